/**
 * Prometheus metrics (prom-client). Every camera series is computed at scrape time from the same
 * camera status the API serves, so /metrics and /api/cameras never disagree, and a removed camera's
 * series disappear with it. The registry is per gateway (not prom-client's global one) so that
 * several gateways in one process (tests) don't collide.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CameraStatus } from '../camera/camera.ts';
import type { Gateway } from '../gateway.ts';
import type { ViewerProtocol, ViewerSession } from '../stream/sessions.ts';

const STATES = ['connecting', 'streaming', 'retrying', 'idle', 'disabled'] as const;
const PROTOCOLS: ViewerProtocol[] = ['hls', 'webrtc', 'rtsp'];

export interface GatewayMetrics {
  registry: Registry;
  /** Detach from the gateway (the HTTP server closed). */
  close(): void;
}

/** Main stream and sub-stream statuses, each labelled with its stream name. */
function streamStatuses(gateway: Gateway): { stream: string; s: CameraStatus }[] {
  const out: { stream: string; s: CameraStatus }[] = [];
  for (const s of gateway.statuses() as (CameraStatus & { sub?: CameraStatus })[]) {
    out.push({ stream: s.id, s });
    if (s.sub) out.push({ stream: `${s.id}/sub`, s: s.sub });
  }
  return out;
}

export function createMetrics(gateway: Gateway, opts: { prefix?: string; defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  const p = opts.prefix ?? 'camgate_';
  // Process CPU, memory, handles, GC and event-loop lag (nodejs_eventloop_lag_*).
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });

  // Bytes sent by viewers that have left, so bytes_sent_total never goes down when one leaves.
  const retired = new Map<string, number>();
  const onRemove = (s: ViewerSession) => {
    const k = `${s.stream}\u0000${s.protocol}`;
    let n = 0;
    try {
      n = s.bytesSent();
    } catch {
      // an output's counter must never break a scrape
    }
    retired.set(k, (retired.get(k) ?? 0) + (Number.isFinite(n) ? n : 0));
  };
  gateway.sessions.on('remove', onRemove);

  const labels = ['camera'] as const;
  // One status pass per scrape, whichever metric collects first; reused for 200 ms.
  let taken = 0;
  let cachedStatuses: { stream: string; s: CameraStatus }[] = [];
  const statuses = () => {
    const now = Date.now();
    if (now - taken > 200) {
      cachedStatuses = streamStatuses(gateway);
      taken = now;
    }
    return cachedStatuses;
  };

  new Gauge({
    name: `${p}camera_up`,
    help: '1 while the camera stream is streaming, else 0.',
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const { stream, s } of statuses()) this.set({ camera: stream }, s.state === 'streaming' ? 1 : 0);
    },
  });
  new Gauge({
    name: `${p}camera_state`,
    help: 'Camera state machine: 1 for the current state, 0 for the others.',
    labelNames: ['camera', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { stream, s } of statuses()) for (const st of STATES) this.set({ camera: stream, state: st }, s.state === st ? 1 : 0);
    },
  });
  const gauge = (name: string, help: string, value: (s: CameraStatus) => number) =>
    new Gauge({
      name: `${p}${name}`,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const { stream, s } of statuses()) this.set({ camera: stream }, value(s));
      },
    });
  const counter = (name: string, help: string, value: (s: CameraStatus) => number) =>
    new Counter({
      name: `${p}${name}`,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const { stream, s } of statuses()) this.inc({ camera: stream }, Math.max(0, value(s)));
      },
    });
  counter('camera_reconnects_total', 'Sessions re-established after the first one.', (s) => s.reconnects);
  gauge('camera_bitrate_bits_per_second', 'Received media bitrate, 5 s average.', (s) => s.quality.bitrateKbps * 1000);
  gauge('camera_fps', 'Received video frames per second, 5 s average.', (s) => s.quality.fps);
  counter('camera_rtp_packets_received_total', 'RTP packets received in the current camera session.', (s) => s.quality.packetsReceived);
  counter('camera_rtp_packets_lost_total', 'RTP packets lost in the current camera session.', (s) => s.quality.packetsLost);
  gauge('camera_jitter_seconds', 'RTP interarrival jitter (RFC 3550 A.8).', (s) => s.quality.jitterMs / 1000);
  gauge('camera_keyframe_interval_seconds', 'Time between the last two keyframes, on the media clock.', (s) => s.quality.keyframeIntervalMs / 1000);
  gauge('camera_last_change_timestamp_seconds', 'When the camera entered its current state.', (s) => Date.parse(s.since) / 1000 || 0);

  new Gauge({
    name: `${p}camera_viewers`,
    help: 'Current viewers of the camera stream by protocol.',
    labelNames: ['camera', 'protocol'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const v of gateway.sessions.list()) counts.set(`${v.stream}\u0000${v.protocol}`, (counts.get(`${v.stream}\u0000${v.protocol}`) ?? 0) + 1);
      for (const { stream } of statuses()) for (const proto of PROTOCOLS) this.set({ camera: stream, protocol: proto }, counts.get(`${stream}\u0000${proto}`) ?? 0);
    },
  });
  new Counter({
    name: `${p}camera_bytes_sent_total`,
    help: 'Bytes sent to viewers of the camera stream by protocol (current and departed viewers).',
    labelNames: ['camera', 'protocol'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const known = new Set(statuses().map((x) => x.stream));
      const sums = new Map<string, number>(retired);
      for (const v of gateway.sessions.list()) {
        let n = 0;
        try {
          n = v.bytesSent();
        } catch {
          // see onRemove
        }
        const k = `${v.stream}\u0000${v.protocol}`;
        sums.set(k, (sums.get(k) ?? 0) + (Number.isFinite(n) ? n : 0));
      }
      for (const [k, n] of sums) {
        const [stream, protocol] = k.split('\u0000') as [string, string];
        if (!known.has(stream)) {
          // The camera was removed: its counters go with it (bounded memory under camera churn).
          retired.delete(k);
          continue;
        }
        this.inc({ camera: stream, protocol }, n);
      }
    },
  });
  new Gauge({
    name: `${p}sessions`,
    help: 'Current viewers of every camera by protocol.',
    labelNames: ['protocol'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const proto of PROTOCOLS) this.set({ protocol: proto }, gateway.sessions.list().filter((s) => s.protocol === proto).length);
    },
  });
  new Gauge({
    name: `${p}cameras`,
    help: 'Configured camera streams by state.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const st of STATES) this.set({ state: st }, statuses().filter((x) => x.s.state === st).length);
    },
  });

  return {
    registry,
    close() {
      gateway.sessions.off('remove', onRemove);
    },
  };
}
