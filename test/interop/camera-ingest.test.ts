/**
 * Camera ingest end to end against GStreamer's RTSP server as the camera: the Camera state machine
 * (RTSP client → RTP receiver → depacketizer → hub) must deliver access units that ffprobe decodes,
 * with the right resolution, audio present and sane RTCP receiver statistics.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { Stream } from '../../src/stream/stream.ts';
import { Camera, type CameraState } from '../../src/camera/camera.ts';
import { joinAnnexB } from '../../src/codecs/annexb.ts';
import { buildAdtsHeader, parseAudioSpecificConfig } from '../../src/codecs/aac/index.ts';
import type { AccessUnit } from '../../src/stream/types.ts';
import type { CameraConfig } from '../../src/config/types.ts';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera, type GstCamera } from '../helpers/gst-camera.ts';
import { probeElementary, probeUrl } from '../helpers/ffprobe.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const W = 320;
const H = 240;

function cameraConfig(id: string, url: string, extra: Partial<CameraConfig> = {}): CameraConfig {
  return { id, name: id, url, transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: [], ...extra };
}

function waitState(cam: Camera, state: CameraState, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  if (cam.currentState === state) return Promise.resolve(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cam.off('state', on);
      reject(new Error(`camera ${cam.id} still '${cam.currentState}' after ${timeoutMs} ms (lastError: ${cam.status().lastError})`));
    }, timeoutMs);
    const on = (s: CameraState) => {
      if (s !== state) return;
      clearTimeout(timer);
      cam.off('state', on);
      resolve(Date.now() - t0);
    };
    cam.on('state', on);
  });
}

/** Collect access units from the moment the stream goes online, for `ms` after the first keyframe. */
function collect(stream: Stream, ms: number): Promise<AccessUnit[]> {
  return new Promise((resolve) => {
    const out: AccessUnit[] = [];
    const start = () => {
      const c = stream.subscribe({ fromGop: false });
      let timer: NodeJS.Timeout | undefined;
      void (async () => {
        for await (const au of c) {
          out.push(au);
          if (!timer && au.keyframe && au.codec !== 'AAC' && au.codec !== 'PCMA' && au.codec !== 'PCMU') {
            timer = setTimeout(() => c.close(), ms);
          }
        }
        resolve(out);
      })();
    };
    if (stream.online) start();
    else stream.once('online', start);
  });
}

function videoFrom(aus: AccessUnit[]): AccessUnit[] {
  const v = aus.filter((a) => a.track === 0);
  const first = v.findIndex((a) => a.keyframe);
  return first < 0 ? [] : v.slice(first);
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function gst(spec: string, extra: Partial<Parameters<typeof startGstCamera>[0]> = {}): Promise<GstCamera> {
  const cam = await startGstCamera({ mounts: [{ path: '/cam', spec }], width: W, height: H, fps: 15, gop: 15, ...extra });
  cleanups.push(() => cam.stop());
  return cam;
}

function camera(cfg: CameraConfig): { cam: Camera; stream: Stream } {
  const stream = new Stream(cfg.id);
  const cam = new Camera({ config: cfg, stream, logger: silent });
  cleanups.push(() => cam.stop());
  return { cam, stream };
}

describe.skipIf(!haveTools('gst-rtsp-server', 'ffprobe'))('camera ingest from GStreamer RTSP server', () => {
  const matrix: { spec: string; video: 'h264' | 'hevc' | 'mjpeg'; audio?: 'AAC' | 'PCMA'; transport: 'tcp' | 'udp' }[] = [
    { spec: 'h264+aac', video: 'h264', audio: 'AAC', transport: 'tcp' },
    { spec: 'h264+aac', video: 'h264', audio: 'AAC', transport: 'udp' },
    { spec: 'h265+pcma', video: 'hevc', audio: 'PCMA', transport: 'tcp' },
    { spec: 'h265+pcma', video: 'hevc', audio: 'PCMA', transport: 'udp' },
    { spec: 'mjpeg', video: 'mjpeg', transport: 'tcp' },
    { spec: 'mjpeg', video: 'mjpeg', transport: 'udp' },
  ];
  for (const m of matrix) {
    it(`${m.spec} over ${m.transport}: frames decode at ${W}x${H}, audio present, RTCP stats sane`, async () => {
      const g = await gst(m.spec, { protocols: [m.transport] });
      const { cam, stream } = camera(cameraConfig('cam', g.url('/cam'), { transport: m.transport }));
      const collecting = collect(stream, 2500);
      cam.start();
      await waitState(cam, 'streaming', 15000);
      const aus = await collecting;
      const status = cam.status();
      expect(status.transport).toBe(m.transport);
      const video = videoFrom(aus);
      expect(video.length).toBeGreaterThanOrEqual(20); // 15 fps for 2.5 s
      expect(status.tracks[0]).toMatchObject({ kind: 'video', width: W, height: H });

      const es = m.video === 'mjpeg' ? Buffer.concat(video.map((a) => a.data[0]!)) : joinAnnexB(video.flatMap((a) => a.data));
      const probe = await probeElementary(es, m.video);
      expect(probe.error ?? '').toBe('');
      expect(probe.frames).toBe(video.length);
      expect([probe.width, probe.height]).toEqual([W, H]);

      if (m.audio) {
        const audio = aus.filter((a) => a.track === 1);
        expect(status.tracks[1]).toMatchObject({ kind: 'audio', codec: m.audio });
        expect(audio.length).toBeGreaterThan(10);
        if (m.audio === 'AAC') {
          const asc = parseAudioSpecificConfig(stream.tracks[1]!.params.audioSpecificConfig!);
          expect(asc.ok).toBe(true);
          if (!asc.ok) return;
          const adts = Buffer.concat(audio.map((a) => Buffer.concat([buildAdtsHeader(asc.value, a.data[0]!.length), a.data[0]!])));
          const ap = await probeElementary(adts, 'aac');
          expect(ap.frames).toBe(audio.length);
          expect(ap.sampleRate).toBe(asc.value.sampleRate);
        } else {
          const ap = await probeElementary(Buffer.concat(audio.map((a) => a.data[0]!)), 'alaw');
          expect(ap.codec).toBe('pcm_alaw');
          expect(ap.frames).toBeGreaterThan(0);
        }
      }

      // RTCP/RTP receiver statistics: packets counted, no loss on loopback, jitter small.
      expect(status.quality.packetsReceived).toBeGreaterThan(video.length);
      expect(status.quality.packetsLost).toBe(0);
      expect(status.quality.jitterMs).toBeGreaterThanOrEqual(0);
      expect(status.quality.jitterMs).toBeLessThan(100);
      expect(status.quality.bitrateKbps).toBeGreaterThan(0);
      // Wall clock from the camera's sender reports (or arrival) lands near now.
      const last = aus[aus.length - 1]!;
      expect(Math.abs(last.wallclock - Date.now())).toBeLessThan(5000);
    }, 60_000);
  }

  it('digest auth: right password streams; wrong password gives a clear 401 error state without the password', async () => {
    const password = 'p@ss#w%rd:!';
    const g = await gst('h264', { auth: { method: 'digest', user: 'admin', password } });
    const good = camera(cameraConfig('good', g.url('/cam'), { username: 'admin', password }));
    good.cam.start();
    await waitState(good.cam, 'streaming', 15000);

    const bad = camera(cameraConfig('bad', g.url('/cam'), { username: 'admin', password: 'wrong-Secret-42' }));
    bad.cam.start();
    await waitState(bad.cam, 'retrying', 15000);
    const st = bad.cam.status();
    expect(st.lastError).toMatch(/401/);
    expect(JSON.stringify(st)).not.toContain('wrong-Secret-42');
    expect(JSON.stringify(good.cam.status())).not.toContain(password);
  }, 60_000);

  it('basic auth with credentials in the URL (percent-encoded)', async () => {
    const g = await gst('h264', { auth: { method: 'basic', user: 'viewer', password: 'a@b#c' } });
    const url = g.url('/cam').replace('rtsp://', `rtsp://viewer:${encodeURIComponent('a@b#c')}@`);
    const { cam, stream } = camera(cameraConfig('basic', url));
    const collecting = collect(stream, 1000);
    cam.start();
    await waitState(cam, 'streaming', 15000);
    const video = videoFrom(await collecting);
    expect(video.length).toBeGreaterThan(5);
    expect(cam.status().url).not.toContain('a@b#c');
    expect(cam.status().url).not.toContain(encodeURIComponent('a@b#c'));
  }, 60_000);

  it('two cameras at once, each with its own frames', async () => {
    const g1 = await gst('h264+aac');
    const g2 = await gst('mjpeg');
    const a = camera(cameraConfig('a', g1.url('/cam')));
    const b = camera(cameraConfig('b', g2.url('/cam'), { transport: 'udp' }));
    const ca = collect(a.stream, 2000);
    const cb = collect(b.stream, 2000);
    a.cam.start();
    b.cam.start();
    const [va, vb] = [videoFrom(await ca), videoFrom(await cb)];
    expect(va[0]!.codec).toBe('H264');
    expect(vb[0]!.codec).toBe('MJPEG');
    expect((await probeElementary(joinAnnexB(va.flatMap((x) => x.data)), 'h264')).frames).toBe(va.length);
    expect((await probeElementary(Buffer.concat(vb.map((x) => x.data[0]!)), 'mjpeg')).frames).toBe(vb.length);
  }, 60_000);

  it('camera restart: streaming → retrying → streaming within 2 s of the camera coming back', async () => {
    const g = await gst('h264');
    const { cam, stream } = camera(cameraConfig('restart', g.url('/cam')));
    cam.start();
    await waitState(cam, 'streaming', 15000);
    const epoch = stream.epoch;
    await g.stop(true);
    await waitState(cam, 'retrying', 15000);
    expect(cam.status().lastError).toBeTruthy();
    await g.start();
    const took = await waitState(cam, 'streaming', 10000);
    expect(took).toBeLessThan(2000);
    const st = cam.status();
    expect(st.reconnects).toBe(1);
    expect(stream.epoch).toBe(epoch + 1);
    // and media flows again
    const video = videoFrom(await collect(stream, 500));
    expect(video.length).toBeGreaterThan(3);
  }, 60_000);

  it('a second client joining the shared camera (GStreamer restarts its timestamps) leaves the timeline unbroken', async () => {
    const g = await gst('h264+aac');
    const { cam, stream } = camera(cameraConfig('shared', g.url('/cam')));
    const collecting = collect(stream, 4000);
    cam.start();
    await waitState(cam, 'streaming', 15000);
    await new Promise((r) => setTimeout(r, 1500));
    // Another reader of the camera: ffprobe's PLAY asks for `Range: npt=0.000-`, which makes
    // GStreamer seek the shared media, so every reader's next frame is stamped with the first
    // frame's timestamp again (1.5 s back here).
    const other = await probeUrl(g.url('/cam'), { rtspTransport: 'tcp' });
    expect(other.streams.map((x) => x.codec_name)).toContain('h264');
    const aus = await collecting;
    expect(stream.epoch).toBe(1);
    for (const track of [0, 1]) {
      const units = track === 0 ? videoFrom(aus) : aus.filter((a) => a.track === 1);
      expect(units.length).toBeGreaterThan(40); // 4 s: 60 video frames, ~62 AAC frames
      const steps = units.slice(1).map((u, i) => ((u.pts - units[i]!.pts) * 1000) / u.clockRate);
      // Every step forward and under 0.5 s: no jump back, no hole (without the re-basing: -1.5 s).
      expect(Math.min(...steps)).toBeGreaterThan(0);
      expect(Math.max(...steps)).toBeLessThan(500);
      const walls = units.slice(1).map((u, i) => u.wallclock - units[i]!.wallclock);
      expect(Math.min(...walls)).toBeGreaterThan(0);
    }
    expect(cam.status().quirks).toEqual(expect.arrayContaining([expect.stringMatching(/timestamps of track 0 jumped/)]));
    // Still one decodable stream across the jump.
    const video = videoFrom(aus);
    const probe = await probeElementary(joinAnnexB(video.flatMap((a) => a.data)), 'h264');
    expect(probe.error ?? '').toBe('');
    expect(probe.frames).toBe(video.length);
  }, 60_000);
});
