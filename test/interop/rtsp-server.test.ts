/**
 * The RTSP restream and push ingest with independent peers: GStreamer cameras relayed through
 * camgate and read by ffprobe (TCP and UDP) and GStreamer rtspsrc; twenty concurrent readers; a
 * stalled reader beside healthy ones; ffmpeg publishing with `-f rtsp`; Digest auth with ffprobe.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera, rtspsrcRead, type GstCamera } from '../helpers/gst-camera.ts';
import { probeUrl, type ProbedStream } from '../helpers/ffprobe.ts';
import { RawRtspClient, startServer } from '../unit/rtsp/server-helpers.ts';
import { loadDemoClip } from '../../src/camera/demo.ts';
import type { Stream } from '../../src/stream/stream.ts';
import { buildHttpServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/log.ts';

const W = 320;
const H = 240;
const dir = mkdtempSync(path.join(tmpdir(), 'camgate-rtsp-'));

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-200_000)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-50_000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** GStreamer rtspsrc over TCP decodes `frames` video buffers (success is the pipeline's EOS). */
const gstRead = (url: string, frames = 15) => rtspsrcRead(url, { numBuffers: frames, latencyMs: 200, timeoutMs: 40_000 });

/**
 * LL-HLS of `stream` from a fastify server on the gateway: waits until `parts` parts are listed,
 * then writes init + those parts into one fMP4 file for ffprobe.
 */
async function hlsSample(gateway: Parameters<typeof buildHttpServer>[0]['gateway'], stream: string, parts: number): Promise<{ multivariant: string; file: string }> {
  const app = await buildHttpServer({ gateway, logger: createLogger({ level: 'silent' }) });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const httpPort = typeof addr === 'object' && addr ? addr.port : 0;
    const base = `http://127.0.0.1:${httpPort}/hls/${stream}/`;
    const multivariant = await (await fetch(`${base}index.m3u8`)).text();
    const mediaUri = /^[^#\s].*$/m.exec(multivariant)![0];
    let media = '';
    for (let i = 0; i < 75; i++) {
      media = await (await fetch(base + mediaUri)).text();
      if ((media.match(/#EXT-X-PART:/g) ?? []).length >= parts) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(media)![1]!;
    const uris = [...media.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]!).slice(0, parts);
    const bodies = await Promise.all([init, ...uris].map(async (u) => Buffer.from(await (await fetch(base + u)).arrayBuffer())));
    const file = path.join(dir, `hls-${stream}.mp4`);
    writeFileSync(file, Buffer.concat(bodies));
    return { multivariant, file };
  } finally {
    await app.close();
  }
}

const video = (s: { streams: ProbedStream[] }) => s.streams.find((x) => x.codec_type === 'video');
const audio = (s: { streams: ProbedStream[] }) => s.streams.find((x) => x.codec_type === 'audio');

describe.skipIf(!haveTools('gst-rtsp-server', 'ffprobe', 'ffmpeg', 'gst-launch-1.0'))('RTSP restream with independent clients', () => {
  let cam: GstCamera;
  let srv: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    cam = await startGstCamera({
      mounts: [
        { path: '/a', spec: 'h264+aac' },
        { path: '/b', spec: 'h265+pcma' },
        { path: '/c', spec: 'mjpeg' },
      ],
      width: W,
      height: H,
      fps: 15,
      gop: 15,
    });
    srv = await startServer([
      { id: 'a', url: cam.url('/a') },
      { id: 'b', url: cam.url('/b') },
      { id: 'c', url: cam.url('/c') },
      { id: 'demo', url: 'builtin:demo' },
      { id: 'pub', url: 'publisher' },
    ]);
  }, 60_000);

  afterAll(async () => {
    await srv?.stop();
    await cam?.stop();
  });

  const matrix = [
    { id: 'a', codec: 'h264', audio: 'aac' },
    { id: 'b', codec: 'hevc', audio: 'pcm_alaw' },
    { id: 'c', codec: 'mjpeg', audio: undefined },
  ];
  for (const m of matrix) {
    it(`${m.id}: ${m.codec}${m.audio ? `+${m.audio}` : ''} relayed; ffprobe TCP and UDP and GStreamer rtspsrc decode ${W}x${H}`, async () => {
      const url = srv.url(m.id);
      const [tcp, udp, gst] = await Promise.all([
        probeUrl(url, { rtspTransport: 'tcp', countFrames: true, readIntervals: '%+2', timeoutMs: 30_000 }),
        probeUrl(url, { rtspTransport: 'udp', countFrames: true, readIntervals: '%+2', timeoutMs: 30_000 }),
        gstRead(url),
      ]);
      for (const p of [tcp, udp]) {
        const v = video(p)!;
        expect(v.codec_name).toBe(m.codec);
        expect([v.width, v.height]).toEqual([W, H]);
        expect(Number(v.nb_read_frames)).toBeGreaterThanOrEqual(15); // 15 fps for 2 s, from a keyframe
        if (m.audio) {
          const a = audio(p)!;
          expect(a.codec_name).toBe(m.audio);
          expect(Number(a.nb_read_frames)).toBeGreaterThan(5);
        }
      }
      expect(gst.eos, gst.out).toBe(true);
      expect([gst.width, gst.height]).toEqual([W, H]);
    }, 60_000);
  }

  it('twenty concurrent readers all get the stream; the camera is opened once', async () => {
    const before = srv.gateway.hub.get('demo')!.consumerList().length;
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, srv.gateway.sessions.viewers('demo').rtsp)), 50);
    const probes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        run('ffprobe', ['-v', 'error', '-rtsp_transport', i % 4 === 3 ? 'udp' : 'tcp', '-timeout', '20000000', '-read_intervals', '%+5', '-count_packets', '-show_entries', 'stream=codec_type,nb_read_packets', '-of', 'json', srv.url('demo')], 40_000),
      ),
    );
    clearInterval(timer);
    const counts = probes.map((p) => {
      const streams = (JSON.parse(p.stdout || '{}') as { streams?: { codec_type: string; nb_read_packets: string }[] }).streams ?? [];
      return Number(streams.find((s) => s.codec_type === 'video')?.nb_read_packets ?? 0);
    });
    // 25 fps for 5 s each; every reader gets nearly all of it.
    for (const c of counts) expect(c).toBeGreaterThanOrEqual(110);
    expect(peak).toBe(20);
    await new Promise((r) => setTimeout(r, 300));
    expect(srv.gateway.hub.get('demo')!.consumerList().length).toBe(before);
    console.log(`20 readers: video packets per reader min ${Math.min(...counts)} max ${Math.max(...counts)}`);
  }, 60_000);

  it('ffmpeg pushing a file with -f rtsp is readable through RTSP and LL-HLS; a second publisher gets 409', async () => {
    const file = path.join(dir, 'push.mp4');
    const mk = await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=15`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k', '-shortest', file]);
    expect(mk.code, mk.stderr).toBe(0);
    const pushArgs = ['-v', 'error', '-re', '-stream_loop', '-1', '-i', file, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'tcp', srv.url('pub')];
    const pusher = spawn('ffmpeg', pushArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    let pushErr = '';
    pusher.stderr.on('data', (d: Buffer) => (pushErr += d.toString()));
    try {
      const pubCam = srv.gateway.camera('pub')!;
      const t0 = Date.now();
      while (pubCam.currentState !== 'streaming' && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 100));
      expect(pubCam.currentState, pushErr).toBe('streaming');
      expect(pubCam.status().transport).toBe('publisher/tcp');
      const p = await probeUrl(srv.url('pub'), { rtspTransport: 'tcp', countFrames: true, readIntervals: '%+2', timeoutMs: 30_000 });
      expect(video(p)).toMatchObject({ codec_name: 'h264', width: W, height: H });
      expect(Number(video(p)!.nb_read_frames)).toBeGreaterThanOrEqual(15);
      expect(audio(p)).toMatchObject({ codec_name: 'aac', sample_rate: '44100' });
      // The pushed stream feeds the hub like a pulled camera: LL-HLS serves it too.
      const hls = await hlsSample(srv.gateway, 'pub', 10);
      expect(hls.multivariant).toMatch(/RESOLUTION=320x240/);
      expect(hls.multivariant).toMatch(/CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
      const probe = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', hls.file]);
      const vs = (JSON.parse(probe.stdout) as { streams: ProbedStream[] }).streams[0]!;
      expect(vs).toMatchObject({ codec_name: 'h264', width: W, height: H });
      expect(Number(vs.nb_read_frames)).toBeGreaterThanOrEqual(25); // 10 parts × 0.2 s at 15 fps
      const second = await run('ffmpeg', pushArgs.map((a) => (a === '-stream_loop' ? '-t' : a === '-1' ? '2' : a)), 20_000);
      expect(second.code).not.toBe(0);
      expect(second.stderr).toMatch(/409/);
      expect(pubCam.currentState).toBe('streaming');
    } finally {
      pusher.kill('SIGINT');
      await new Promise((r) => pusher.once('close', r));
    }
  }, 60_000);
});

describe.skipIf(!haveTools('ffprobe', 'ffmpeg'))('push ingest of H.264 with B-frames (ffmpeg, libx264 defaults)', () => {
  it('LL-HLS keeps every frame with decode times in decode order and decodes without errors', async () => {
    const srv = await startServer([{ id: 'enc', url: 'publisher' }]);
    const file = path.join(dir, 'bframes.mp4');
    // -preset veryfast: 3 B-frames with b-pyramid, as libx264 encodes by default (ultrafast has none).
    const mk = await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=25`, '-t', '4', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '3', '-g', '25', '-pix_fmt', 'yuv420p', file]);
    expect(mk.code, mk.stderr).toBe(0);
    // The fixture has reordered frames: some packets' pts differ from their dts.
    const src = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,dts', '-of', 'csv=p=0', file]);
    expect(src.stdout.split('\n').filter((l) => /^\d+,\d+$/.test(l) && l.split(',')[0] !== l.split(',')[1]).length).toBeGreaterThan(50);
    const pusher = spawn('ffmpeg', ['-v', 'error', '-re', '-stream_loop', '-1', '-i', file, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'tcp', srv.url('enc')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let pushErr = '';
    pusher.stderr.on('data', (d: Buffer) => (pushErr += d.toString()));
    try {
      const t0 = Date.now();
      while (!srv.gateway.hub.get('enc')?.lastKeyframe() && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 100));
      expect(srv.gateway.hub.get('enc')?.lastKeyframe(), pushErr).toBeDefined();
      // 15 parts of 0.2 s = 3 s = 75 frames at 25 fps.
      const hls = await hlsSample(srv.gateway, 'enc', 15);
      const frames = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,dts:frame=pts', '-of', 'json', hls.file]);
      // No decode errors: a dropped B-frame that others reference shows as an error here.
      expect(frames.stderr.trim()).toBe('');
      // -show_entries of packets and frames together lists both in one array, each with its type.
      const all = (JSON.parse(frames.stdout) as { packets_and_frames: { type: string; pts: number; dts?: number }[] }).packets_and_frames;
      const out = { packets: all.filter((x) => x.type === 'packet') as { pts: number; dts: number }[], frames: all.filter((x) => x.type === 'frame') };
      expect(out.packets.length).toBeGreaterThanOrEqual(72);
      expect(out.frames.length).toBe(out.packets.length);
      // Decode times increase in decode order; presentation times are reordered (B-frames kept)…
      for (let i = 1; i < out.packets.length; i++) expect(out.packets[i]!.dts).toBeGreaterThan(out.packets[i - 1]!.dts);
      expect(out.packets.filter((p) => p.pts !== p.dts).length).toBeGreaterThan(out.packets.length / 2);
      // …and the decoded frames come out one frame (40 ms, timescale 90 kHz) apart, none missing.
      const pts = out.frames.map((f) => f.pts).sort((a, b) => a - b);
      for (let i = 1; i < pts.length; i++) expect(pts[i]! - pts[i - 1]!, `frame ${i}`).toBe(3600);
    } finally {
      pusher.kill('SIGINT');
      await new Promise((r) => pusher.once('close', r));
      await srv.stop();
    }
  }, 60_000);
});

describe.skipIf(!haveTools('ffprobe'))('RTSP restream: Digest auth with ffprobe, stalled reader', () => {
  it('accepts the right password and refuses a wrong one', async () => {
    const srv = await startServer([{ id: 'demo', url: 'builtin:demo' }], [{ name: 'nvr', password: 'Pa55-word', role: 'viewer', cameras: ['demo'] }]);
    try {
      const url = (cred: string) => srv.url('demo').replace('rtsp://', `rtsp://${cred}@`);
      const ok = await probeUrl(url('nvr:Pa55-word'), { rtspTransport: 'tcp', timeoutMs: 20_000 });
      expect(video(ok)).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
      await expect(probeUrl(url('nvr:wrong'), { rtspTransport: 'tcp', timeoutMs: 20_000 })).rejects.toThrow(/401/);
      await expect(probeUrl(srv.url('demo'), { rtspTransport: 'tcp', timeoutMs: 20_000 })).rejects.toThrow(/401/);
    } finally {
      await srv.stop();
    }
  }, 60_000);

  it('a reader that stops reading is dropped to a keyframe, then disconnected; the others keep their frame rate', async () => {
    const clip = await loadDemoClip();
    const srv = await startServer([], [], { writeHighWaterBytes: 2 * 1024 * 1024, stuckTimeoutMs: 3000, readerQueueBytes: 2 * 1024 * 1024 });
    const stream = srv.gateway.hub.getOrCreate('big');
    const stopFeed = feedWithFiller(stream, clip);
    try {
      const stalled = await RawRtspClient.connect(srv.port);
      stalled.maxFrames = 0;
      await stalled.playTcp(srv.url('big'));
      const stalledId = srv.gateway.sessions.list()[0]!.id;
      stalled.socket.pause(); // an NVR whose disk hangs: the TCP window fills up
      const t0 = Date.now();
      const removed = new Promise<{ overflows: number; at: number }>((resolve) => {
        const on = (v: { id: string; rtsp?: { overflows: number } }) => {
          if (v.id !== stalledId) return;
          srv.gateway.sessions.off('remove', on);
          resolve({ overflows: v.rtsp?.overflows ?? -1, at: Date.now() - t0 });
        };
        srv.gateway.sessions.on('remove', on);
      });
      const healthy = await probeUrl(srv.url('big'), { rtspTransport: 'tcp', countFrames: true, readIntervals: '%+6', timeoutMs: 40_000 });
      const gone = await removed;
      // The paused client only notices the close once it reads again.
      stalled.socket.resume();
      await stalled.closed;
      expect(gone.overflows).toBeGreaterThanOrEqual(1);
      const frames = Number(video(healthy)!.nb_read_frames);
      // 25 fps for 6 s while the other reader stalled and was cut off.
      expect(frames).toBeGreaterThanOrEqual(140);
      console.log(`stalled reader: ${gone.overflows} drop(s) to keyframe, disconnected after ${gone.at} ms; healthy reader decoded ${frames} frames in 6 s`);
    } finally {
      stopFeed();
      await srv.stop();
    }
  }, 60_000);
});

/** The demo clip at 25 fps with a 100 KB filler NAL (type 12, ignored by decoders) per frame: 20 Mbit/s. */
function feedWithFiller(stream: Stream, clip: Awaited<ReturnType<typeof loadDemoClip>>): () => void {
  stream.start([clip.tracks[0]!]);
  const filler = Buffer.concat([Buffer.from([0x0c]), Buffer.alloc(100_000, 0xff), Buffer.from([0x80])]);
  let v = 0;
  const t0 = Date.now();
  const timer = setInterval(() => {
    while ((v * 1000) / 25 <= Date.now() - t0) {
      const f = clip.video[v % clip.video.length]!;
      stream.publish({ track: 0, codec: 'H264', pts: v * 3600, dts: v * 3600, clockRate: 90000, wallclock: t0 + v * 40, keyframe: f.keyframe, data: [...f.nalus, filler], epoch: stream.epoch });
      v++;
    }
  }, 10);
  return () => clearInterval(timer);
}
