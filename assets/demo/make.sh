#!/usr/bin/env bash
# Regenerates the built-in demo camera clip (run once; the outputs are committed).
# 8 s loop: 200 video frames at 25 fps (GOP 2 s, no B-frames, AUD NAL units so access units split
# cleanly) and exactly 375 AAC frames at 48 kHz (8 s * 48000 / 1024), so audio and video loop together.
set -euo pipefail
cd "$(dirname "$0")"
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=640x360:rate=25" -t 8 \
  -vf "drawtext=fontfile=${FONT}:text='camgate demo':x=20:y=20:fontsize=32:fontcolor=white:box=1:boxcolor=black@0.6,drawtext=fontfile=${FONT}:text='%{eif\:n/25\:d}.%{eif\:mod(n\,25)*4\:d\:2}s':x=20:y=310:fontsize=28:fontcolor=yellow:box=1:boxcolor=black@0.6" \
  -c:v libx264 -preset veryslow -profile:v main -level 3.0 -pix_fmt yuv420p -b:v 400k -maxrate 600k -bufsize 1200k \
  -g 50 -keyint_min 50 -sc_threshold 0 -bf 0 -x264-params aud=1:repeat-headers=1 -bsf:v h264_mp4toannexb -f h264 demo.h264
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=440:sample_rate=48000:beep_factor=4" -t 8.2 \
  -c:a aac -b:a 48k -ac 1 -f adts demo.full.aac
# Keep exactly 375 ADTS frames.
python3 - <<'PY'
data = open('demo.full.aac', 'rb').read()
out, pos, n = bytearray(), 0, 0
while pos + 7 <= len(data) and n < 375:
    assert data[pos] == 0xFF and (data[pos + 1] & 0xF0) == 0xF0
    flen = ((data[pos + 3] & 3) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
    out += data[pos:pos + flen]; pos += flen; n += 1
assert n == 375, n
open('demo.aac', 'wb').write(out)
PY
rm -f demo.full.aac
ls -l demo.h264 demo.aac
