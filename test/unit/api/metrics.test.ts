/**
 * /metrics in the Prometheus text format: per camera (and sub-stream) state, reconnects, bitrate,
 * fps, packets, jitter, keyframe interval, viewers and bytes out by protocol; process metrics and
 * event-loop lag. Values are checked against the camera status the API serves.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { newSessionId } from '../../../src/stream/sessions.ts';
import { startRig, until, type Rig } from './helpers.ts';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig(`cameras:
  demo:
    url: builtin:demo
  dead:
    url: rtsp://admin:Pw0rd-Sec@127.0.0.1:9/main
    sub: rtsp://127.0.0.1:9/sub
    transport: tcp
`);
  // two keyframes (2 s GOP) give the demo a keyframe interval; the dead camera has failed by then
  await until(() => (rig.gateway.status('demo')?.quality.keyframeIntervalMs ?? 0) > 0 && rig.gateway.status('dead')?.state === 'retrying', 15_000, 'demo measured');
});
afterAll(async () => rig?.close());

/** `name{labels} value` lines → map of `name{labels}` → number. */
async function scrape(): Promise<{ text: string; get(series: string): number | undefined }> {
  const r = await rig.app.inject({ url: '/metrics' });
  expect(r.statusCode).toBe(200);
  expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const values = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    values.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return { text: r.body, get: (s) => values.get(s) };
}

describe('/metrics', () => {
  it('exports camera state per stream (sub-streams included), as camera_up and a one-hot camera_state', async () => {
    const m = await scrape();
    expect(m.get('camgate_camera_up{camera="demo"}')).toBe(1);
    expect(m.get('camgate_camera_up{camera="dead"}')).toBe(0);
    expect(m.get('camgate_camera_state{camera="demo",state="streaming"}')).toBe(1);
    expect(m.get('camgate_camera_state{camera="demo",state="retrying"}')).toBe(0);
    expect(m.get('camgate_camera_state{camera="dead",state="retrying"}')).toBe(1);
    expect(m.get('camgate_camera_state{camera="dead/sub",state="retrying"}')).toBe(1);
    expect(m.get('camgate_cameras{state="streaming"}')).toBe(1);
    expect(m.get('camgate_cameras{state="retrying"}')).toBe(2);
    expect(m.text).not.toContain('Pw0rd-Sec');
  });

  it('exports the quality figures of the status: bitrate, fps, keyframe interval, packets, jitter, reconnects', async () => {
    const m = await scrape();
    const q = rig.gateway.status('demo')!.quality;
    expect(m.get('camgate_camera_bitrate_bits_per_second{camera="demo"}')).toBeGreaterThan(0);
    expect(m.get('camgate_camera_fps{camera="demo"}')).toBeGreaterThan(0);
    expect(m.get('camgate_camera_keyframe_interval_seconds{camera="demo"}')).toBeCloseTo(q.keyframeIntervalMs / 1000, 3);
    expect(m.get('camgate_camera_keyframe_interval_seconds{camera="demo"}')).toBeCloseTo(2, 1);
    for (const name of ['camera_rtp_packets_received_total', 'camera_rtp_packets_lost_total', 'camera_jitter_seconds', 'camera_reconnects_total']) {
      expect(m.get(`camgate_${name}{camera="demo"}`), name).toBeDefined();
    }
    expect(m.text).toMatch(/# TYPE camgate_camera_reconnects_total counter/);
  });

  it('exports viewers and bytes out by protocol; bytes out never goes down when a viewer leaves', async () => {
    let sent = 5000;
    const remove = rig.gateway.sessions.add({ id: newSessionId(), protocol: 'hls', stream: 'demo', remoteAddress: '127.0.0.1', startedAt: new Date(), bytesSent: () => sent, kick: () => remove() });
    const removeSub = rig.gateway.sessions.add({ id: newSessionId(), protocol: 'rtsp', stream: 'dead/sub', remoteAddress: '127.0.0.1', startedAt: new Date(), bytesSent: () => 7, kick: () => removeSub() });
    let m = await scrape();
    expect(m.get('camgate_camera_viewers{camera="demo",protocol="hls"}')).toBe(1);
    expect(m.get('camgate_camera_viewers{camera="demo",protocol="webrtc"}')).toBe(0);
    expect(m.get('camgate_camera_viewers{camera="dead/sub",protocol="rtsp"}')).toBe(1);
    expect(m.get('camgate_sessions{protocol="hls"}')).toBe(1);
    expect(m.get('camgate_camera_bytes_sent_total{camera="demo",protocol="hls"}')).toBe(5000);
    expect(m.get('camgate_camera_bytes_sent_total{camera="dead/sub",protocol="rtsp"}')).toBe(7);
    sent = 6000;
    remove();
    removeSub();
    m = await new Promise((ok) => setTimeout(ok, 250)).then(scrape);
    expect(m.get('camgate_camera_viewers{camera="demo",protocol="hls"}')).toBe(0);
    expect(m.get('camgate_camera_bytes_sent_total{camera="demo",protocol="hls"}')).toBe(6000);
    const again = rig.gateway.sessions.add({ id: newSessionId(), protocol: 'hls', stream: 'demo', remoteAddress: '127.0.0.1', startedAt: new Date(), bytesSent: () => 100, kick: () => again() });
    m = await scrape();
    expect(m.get('camgate_camera_bytes_sent_total{camera="demo",protocol="hls"}')).toBe(6100);
    again();
  });

  it('exports process metrics and event-loop lag', async () => {
    const m = await scrape();
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(m.get(name), name).toBeGreaterThanOrEqual(0);
    }
  });

  it("drops a removed camera's series", async () => {
    expect((await rig.app.inject({ method: 'DELETE', url: '/api/cameras/dead' })).statusCode).toBe(204);
    const m = await new Promise((ok) => setTimeout(ok, 250)).then(scrape);
    expect(m.text).not.toContain('camera="dead"');
    expect(m.text).not.toContain('camera="dead/sub"');
    expect(m.get('camgate_camera_up{camera="demo"}')).toBe(1);
  });
});
