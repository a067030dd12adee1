# camgate: Node LTS slim plus Debian's ffmpeg (used only for snapshots and audio transcoding).
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY assets ./assets
COPY tsconfig.json cameras.yaml ./
ENV FFMPEG_PATH=/usr/bin/ffmpeg
# HTTP (wall, API, LL-HLS, WHEP, metrics), RTSP restream, WebRTC media (UDP range).
EXPOSE 8080/tcp 8554/tcp 8322/tcp 8555-8655/udp
USER node
# Same heap flags as bin/camgate.js's shebang (see the comment there).
CMD ["node", "--initial-old-space-size=128", "--max-semi-space-size=16", "--no-memory-reducer", "bin/camgate.js", "serve", "--config", "/config/cameras.yaml"]
