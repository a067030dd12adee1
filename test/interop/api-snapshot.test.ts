/**
 * Snapshots of real GStreamer cameras (H.264, H.265, MJPEG) fetched over HTTP and decoded back by
 * ffprobe: right size, right size when scaled, cached for ~1 s, on-demand cameras started for it.
 * Latencies are printed, not asserted.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera, type GstCamera } from '../helpers/gst-camera.ts';
import { probeElementary } from '../helpers/ffprobe.ts';
import { startRig, until, type Rig } from '../unit/api/helpers.ts';

describe.skipIf(!haveTools('gst-rtsp-server', 'ffmpeg', 'ffprobe'))('snapshots from GStreamer cameras', () => {
  let gst: GstCamera;
  let rig: Rig;
  let base: string;

  beforeAll(async () => {
    gst = await startGstCamera({
      mounts: [
        { path: '/h264', spec: 'h264' },
        { path: '/h265', spec: 'h265' },
        { path: '/mjpeg', spec: 'mjpeg' },
      ],
      width: 320,
      height: 240,
      fps: 15,
      gop: 15,
    });
    rig = await startRig(
      `users:
  - name: wall
    token: "wall-token-123"
    role: viewer
    cameras: ["cam-*"]
cameras:
  cam-h264:
    url: ${gst.url('/h264')}
    sub: ${gst.url('/mjpeg')}
  cam-h265:
    url: ${gst.url('/h265')}
  cam-mjpeg:
    url: ${gst.url('/mjpeg')}
  cam-ondemand:
    url: ${gst.url('/h264')}
    onDemand: true
`,
      { listen: true },
    );
    const addr = rig.app.server.address() as { port: number };
    base = `http://127.0.0.1:${addr.port}`;
    await until(() => ['cam-h264', 'cam-h265', 'cam-mjpeg'].every((id) => rig.gateway.hub.get(id)?.lastKeyframe()) && !!rig.gateway.hub.get('cam-h264/sub')?.lastKeyframe(), 30_000, 'keyframes');
  }, 60_000);

  afterAll(async () => {
    await rig?.close();
    await gst?.stop();
  });

  const get = async (path: string) => {
    const t0 = performance.now();
    const r = await fetch(`${base}${path}${path.includes('?') ? '&' : '?'}token=wall-token-123`);
    const body = Buffer.from(await r.arrayBuffer());
    return { status: r.status, type: r.headers.get('content-type'), body, ms: performance.now() - t0, headers: r.headers };
  };

  it.each([
    ['cam-h264', 'H.264'],
    ['cam-h265', 'H.265'],
    ['cam-mjpeg', 'MJPEG'],
    ['cam-h264/sub', 'MJPEG sub-stream'],
  ])('%s (%s): a JPEG of the camera size, and scaled with ?width=', async (stream, label) => {
    const path = stream.endsWith('/sub') ? `/api/cameras/${stream.slice(0, -4)}/sub/snapshot.jpg` : `/api/cameras/${stream}/snapshot.jpg`;
    // Two requests at once share one decode (and the second of them is what the cache serves).
    const [full, twin] = await Promise.all([get(path), get(path)]);
    expect(full.status).toBe(200);
    expect(twin.body.equals(full.body)).toBe(true);
    expect(full.type).toBe('image/jpeg');
    const p = await probeElementary(full.body, 'mjpeg');
    expect(p.codec).toBe('mjpeg');
    expect([p.width, p.height]).toEqual([320, 240]);
    expect(p.frames).toBe(1);
    expect(Date.parse(full.headers.get('last-modified')!)).toBeGreaterThan(Date.now() - 60_000);

    const scaled = await get(`${path}?width=160`);
    expect(scaled.status).toBe(200);
    const ps = await probeElementary(scaled.body, 'mjpeg');
    expect([ps.width, ps.height]).toEqual([160, 120]);

    const again = await get(path);
    expect(again.status).toBe(200);
    console.log(`snapshot ${label}: first ${full.ms.toFixed(0)} ms, scaled ${scaled.ms.toFixed(0)} ms, again ${again.ms.toFixed(1)} ms (${again.headers.get('x-camgate-snapshot')}), ${full.body.length} bytes`);
  });

  it('an onDemand camera is started for a snapshot, and the JPEG decodes', async () => {
    expect(rig.gateway.status('cam-ondemand')!.state).toBe('idle');
    const r = await get('/api/cameras/cam-ondemand/snapshot.jpg');
    expect(r.status).toBe(200);
    expect((await probeElementary(r.body, 'mjpeg')).width).toBe(320);
    console.log(`snapshot of an idle onDemand camera: ${r.ms.toFixed(0)} ms`);
  });

  it('errors: no sub-stream → 404, bad width → 400, unknown camera → 404 (403 first for a camera outside the viewer\'s patterns)', async () => {
    expect((await get('/api/cameras/cam-h265/sub/snapshot.jpg')).status).toBe(404);
    expect((await get('/api/cameras/cam-h265/snapshot.jpg?width=3')).status).toBe(400);
    expect((await get('/api/cameras/cam-h265/snapshot.jpg?width=wide')).status).toBe(400);
    expect((await get('/api/cameras/cam-nope/snapshot.jpg')).status).toBe(404);
    expect((await get('/api/cameras/other/snapshot.jpg')).status).toBe(403);
  });

  it('a camera that is not streaming → 503 with Retry-After', async () => {
    const r = await rig.app.inject({ method: 'POST', url: '/api/cameras', headers: { authorization: 'Bearer wall-token-123' }, payload: { id: 'cam-x', url: 'rtsp://127.0.0.1:9/x' } });
    expect(r.statusCode).toBe(403); // a viewer cannot add cameras
    await rig.gateway.createCamera('cam-dead', { url: 'rtsp://127.0.0.1:9/x', transport: 'tcp' });
    const res = await get('/api/cameras/cam-dead/snapshot.jpg');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(JSON.parse(res.body.toString()).error).toBe('no_frame');
  }, 20_000);
});
