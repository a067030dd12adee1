import { RtspSource } from './camera/rtsp-source.ts';
import { trackStatus, type TrackStatus } from './camera/camera.ts';
import { QualityMeter, type Quality } from './camera/quality.ts';
import type { TrackInfo } from './stream/types.ts';
import { splitCredentials } from './config/credentials.ts';
import { redactSecrets } from './util/redact.ts';
import { USER_AGENT } from './gateway.ts';

export interface ProbeResult {
  url: string;
  transport: string;
  server?: string;
  sessionTimeoutSec?: number;
  keepalive?: string;
  tracks: (TrackStatus & { control?: string; payloadType?: number; framesReceived: number; keyframes: number; framesDropped: number })[];
  ignoredMedias: string[];
  quality: Quality;
  quirks: string[];
}

/** Connect to one camera, receive for a few seconds, and report what it sends and what we worked around. */
export async function probe(url: string, opts: { transport: 'auto' | 'tcp' | 'udp' | 'multicast'; seconds: number }): Promise<ProbeResult> {
  const creds = splitCredentials(url);
  const secrets = creds.password ? [creds.password] : [];
  const source = new RtspSource({
    url: creds.url,
    credentials: creds.username !== undefined ? { username: creds.username, password: creds.password ?? '' } : undefined,
    transport: opts.transport,
    userAgent: USER_AGENT,
  });
  const quirks: string[] = [];
  const meter = new QualityMeter();
  let tracks: TrackInfo[] = [];
  const counts = new Map<number, { frames: number; keyframes: number }>();
  let closed: Error | undefined;
  const started = await source.start({
    accessUnit: (au) => {
      meter.add(au);
      const c = counts.get(au.track) ?? { frames: 0, keyframes: 0 };
      c.frames++;
      if (au.keyframe) c.keyframes++;
      counts.set(au.track, c);
    },
    trackParams: (id, params) => {
      const t = tracks[id];
      if (t) t.params = { ...t.params, ...params };
    },
    close: (e) => {
      closed = e;
    },
    quirk: (q) => quirks.push(q),
  });
  tracks = started.tracks;
  source.ready();
  await new Promise((r) => setTimeout(r, Math.max(0.5, opts.seconds) * 1000));
  const rtp = source.rtpQuality();
  const dep = source.depacketizerStats();
  const info = source.info;
  await source.stop();
  if (closed && counts.size === 0) throw closed;
  const session = info?.session;
  return {
    url: redactSecrets(url, secrets),
    transport: started.transport,
    server: info?.server,
    sessionTimeoutSec: info?.timeoutSec,
    keepalive: info?.keepaliveMethod,
    tracks: tracks.map((t, i) => {
      const rtspIndex = source.rtspIndexOf(t.id);
      const rt = info?.tracks.find((x) => x.index === rtspIndex);
      return {
        ...trackStatus(t),
        control: rt?.controlUrl ? redactSecrets(rt.controlUrl, secrets) : undefined,
        payloadType: rt?.media.payloadType,
        framesReceived: counts.get(t.id)?.frames ?? 0,
        keyframes: counts.get(t.id)?.keyframes ?? 0,
        framesDropped: dep[i]?.framesDropped ?? 0,
      };
    }),
    ignoredMedias: session?.skipped ?? [],
    quality: meter.snapshot(rtp),
    quirks: [...new Set([...(session?.warnings ?? []).map((w) => `SDP: ${w}`), ...started.quirks, ...quirks])],
  };
}

export function formatProbe(r: ProbeResult): string {
  const lines: string[] = [];
  lines.push(`camera:     ${r.url}`);
  if (r.server) lines.push(`server:     ${r.server}`);
  lines.push(`transport:  ${r.transport}${r.keepalive ? `  (keepalive ${r.keepalive}, session timeout ${r.sessionTimeoutSec}s)` : ''}`);
  lines.push('tracks:');
  for (const t of r.tracks) {
    const what =
      t.kind === 'video'
        ? `${t.width ?? '?'}x${t.height ?? '?'}${t.fps ? ` @ ${t.fps} fps` : ''}`
        : `${t.sampleRate ?? '?'} Hz, ${t.channels ?? '?'} ch`;
    lines.push(`  - ${t.kind} ${t.codec} ${t.codecString ?? ''}  ${what}  frames=${t.framesReceived} keyframes=${t.keyframes}${t.framesDropped ? ` dropped=${t.framesDropped}` : ''}`);
  }
  for (const m of r.ignoredMedias) lines.push(`  - ignored: ${m}`);
  const q = r.quality;
  lines.push(`quality:    ${q.bitrateKbps} kbit/s, ${q.fps} fps, ${q.packetsReceived} packets, ${q.packetsLost} lost (${q.lossPercent}%), jitter ${q.jitterMs} ms, keyframe every ${q.keyframeIntervalMs} ms`);
  lines.push(`quirks:     ${r.quirks.length ? '' : 'none'}`);
  for (const q2 of r.quirks) lines.push(`  - ${q2}`);
  return `${lines.join('\n')}\n`;
}
