/**
 * The snapshot service on the demo camera: decoded to the camera's size, scaled, concurrent
 * requests sharing one ffmpeg run, the cache, and the errors (no stream, no ffmpeg, bad width).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Gateway } from '../../../src/gateway.ts';
import { defaultConfig } from '../../../src/config/load.ts';
import { Snapshots, SnapshotError } from '../../../src/snapshot/snapshot.ts';
import { probeElementary } from '../../helpers/ffprobe.ts';
import { captureLogger, until } from './helpers.ts';

let gw: Gateway;
beforeAll(async () => {
  const cfg = defaultConfig();
  cfg.cameras = [{ id: 'demo', name: 'demo', url: 'builtin:demo', transport: 'auto', audio: 'auto', onDemand: false, enabled: true, tags: [] }];
  gw = new Gateway(cfg, captureLogger().log);
  gw.start();
  await until(() => !!gw.hub.get('demo')?.lastKeyframe(), 10_000, 'demo keyframe');
});
afterAll(async () => gw?.stop());

describe('Snapshots', () => {
  it('decodes the H.264 keyframe to a 640x360 JPEG, and scales it with width', async () => {
    const s = new Snapshots(gw);
    const full = await s.get('demo');
    expect(full.cached).toBe(false);
    const p = await probeElementary(full.jpeg, 'mjpeg');
    expect([p.codec, p.width, p.height, p.frames]).toEqual(['mjpeg', 640, 360, 1]);
    const small = await s.get('demo', 320);
    expect([(await probeElementary(small.jpeg, 'mjpeg')).width, (await probeElementary(small.jpeg, 'mjpeg')).height]).toEqual([320, 180]);
    expect(full.capturedAt).toBeGreaterThan(Date.now() - 60_000);
  });

  it('concurrent requests share one ffmpeg run; the cache answers without one', async () => {
    const s = new Snapshots(gw, { cacheMs: 60_000 });
    const all = await Promise.all(Array.from({ length: 5 }, () => s.get('demo', 160)));
    expect(s.decodes).toBe(1);
    for (const x of all) expect(x.jpeg.equals(all[0]!.jpeg)).toBe(true);
    const again = await s.get('demo', 160);
    expect(again.cached).toBe(true);
    expect(s.decodes).toBe(1);
    s.forget('demo');
    expect((await s.get('demo', 160)).cached).toBe(false);
    expect(s.decodes).toBe(2);
  });

  it('errors: unknown stream 404, bad width 400, no ffmpeg 500 — as SnapshotError', async () => {
    const s = new Snapshots(gw);
    await expect(s.get('nope')).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(s.get('demo', 8)).rejects.toMatchObject({ status: 400, code: 'bad_width' });
    await expect(s.get('demo', 100.5)).rejects.toBeInstanceOf(SnapshotError);
    const none = new Snapshots(gw, { ffmpegPath: null });
    await expect(none.get('demo', 64)).rejects.toMatchObject({ status: 500, code: 'no_ffmpeg' });
    const broken = new Snapshots(gw, { ffmpegPath: '/bin/false' });
    await expect(broken.get('demo', 64)).rejects.toMatchObject({ status: 500, code: 'snapshot_failed' });
  });
});
