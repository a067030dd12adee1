/**
 * The HLS HTTP surface against the built-in demo camera (H.264 640x360 25 fps, 2 s GOP, AAC):
 * status codes of blocking reload, hints, caching, CORS, gzip, rights and viewer sessions.
 * Playlists are parsed with hls-parser, init segments with mp4box.js.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import HLS from 'hls-parser';
import pino from 'pino';
import { Gateway } from '../../../src/gateway.ts';
import { buildHttpServer } from '../../../src/http/server.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { hlsRoutes } from '../../../src/hls/routes.ts';
import { parseFmp4 } from './mp4box.ts';

const log = pino({ level: 'silent' });

function gatewayFrom(yaml: string): Gateway {
  const r = parseConfig(yaml, 'test.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r));
  const gw = new Gateway(r.config, log);
  gw.start();
  return gw;
}

async function onlineWithGop(gw: Gateway, name: string): Promise<void> {
  const s = gw.hub.get(name)!;
  // A camera that has been up a while: its keyframe interval is known (TARGETDURATION uses it).
  const ready = () => s.online && s.gopSnapshot().length > 12 && gw.cameraForStream(name)!.status().quality.keyframeIntervalMs > 0;
  for (let i = 0; i < 400 && !ready(); i++) await new Promise((r) => setTimeout(r, 25));
}

function mediaUri(mv: string): string {
  return (HLS.parse(mv) as HLS.types.MasterPlaylist).variants[0]!.uri;
}

describe('HLS routes (demo camera, open access)', () => {
  let gw: Gateway;
  let app: Awaited<ReturnType<typeof buildHttpServer>>;
  beforeAll(async () => {
    gw = gatewayFrom('cameras:\n  demo:\n    url: builtin:demo\n  fresh:\n    url: builtin:demo\n');
    app = await buildHttpServer({ gateway: gw, logger: log });
    await onlineWithGop(gw, 'demo');
    await onlineWithGop(gw, 'fresh');
  });
  afterAll(async () => {
    await app.close();
    await gw.stop();
  });

  it('multivariant playlist answers at once from the GOP cache; CODECS equal mp4box’s reading of the init segment', async () => {
    const t0 = performance.now();
    const res = await app.inject({ url: '/hls/demo/index.m3u8', headers: { 'accept-encoding': 'gzip' } });
    const ms = performance.now() - t0;
    console.log(`first multivariant playlist in ${ms.toFixed(0)} ms`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const mv = HLS.parse(gunzipSync(res.rawPayload).toString()) as HLS.types.MasterPlaylist;
    const v = mv.variants[0]!;
    expect(v.resolution).toEqual({ width: 640, height: 360 });
    expect(v.frameRate).toBe(25);
    expect(v.codecs).toMatch(/^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
    expect(v.uri).toMatch(/^stream\.m3u8\?session=[0-9a-f]{32}$/);
    const media = await app.inject({ url: `/hls/demo/${v.uri}` });
    expect(media.statusCode).toBe(200);
    expect(media.headers['cache-control']).toBe('max-age=1');
    const pl = HLS.parse(media.body) as HLS.types.MediaPlaylist;
    const first = pl.segments[0]!;
    expect(first.parts![0]!.independent).toBe(true);
    const init = await app.inject({ url: `/hls/demo/${first.map!.uri}` });
    expect(init.statusCode).toBe(200);
    expect(init.headers['content-type']).toBe('video/mp4');
    expect(init.headers['cache-control']).toMatch(/immutable/);
    const part = await app.inject({ url: `/hls/demo/${first.parts![0]!.uri}` });
    expect(part.headers['cache-control']).toMatch(/immutable/);
    const parsed = parseFmp4(Buffer.concat([init.rawPayload, part.rawPayload]));
    expect(parsed.tracks.map((t) => t.codec).join(',')).toBe(v.codecs);
    expect(parsed.tracks[0]!.samples[0]!.isSync).toBe(true);
    // the viewer is registered as an HLS session of this camera
    expect(gw.status('demo')!.viewers.hls).toBe(1);
  });

  it('blocking reload: 400s, immediate 200 for an old MSN, hold until the part exists, delta update', async () => {
    const mv = await app.inject({ url: '/hls/demo/index.m3u8' });
    const uri = mediaUri(mv.body);
    const base = `/hls/demo/${uri}&`;
    expect((await app.inject({ url: `${base}_HLS_part=1` })).statusCode).toBe(400);
    expect((await app.inject({ url: `${base}_HLS_msn=abc` })).statusCode).toBe(400);
    // Read the playlist right after a part appeared: the last part and MSN then hold for ~200 ms.
    const cur = HLS.parse((await app.inject({ url: `/hls/demo/${uri}` })).body) as HLS.types.MediaPlaylist;
    const curLast = cur.segments[cur.segments.length - 1]!;
    const curPart = (curLast.parts ?? []).filter((p) => !p.hint).length;
    const pl = HLS.parse((await app.inject({ url: `${base}_HLS_msn=${curLast.mediaSequenceNumber}&_HLS_part=${curPart}` })).body) as HLS.types.MediaPlaylist;
    const lastSeg = pl.segments[pl.segments.length - 1]!;
    const lastMsn = lastSeg.mediaSequenceNumber;
    const lastPart = lastSeg.parts!.filter((p) => !p.hint).length - 1;
    const far = await app.inject({ url: `${base}_HLS_msn=${lastMsn + 3}` });
    expect(far.statusCode).toBe(400);
    expect(far.headers['access-control-allow-origin']).toBe('*');
    expect((await app.inject({ url: `${base}_HLS_msn=${lastMsn}&_HLS_part=${lastPart + 10}` })).statusCode).toBe(400);
    // old MSN: at once, full playlist
    let t0 = performance.now();
    const old = await app.inject({ url: `${base}_HLS_msn=${pl.mediaSequenceBase}&_HLS_part=0` });
    expect(old.statusCode).toBe(200);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(old.body).not.toMatch(/EXT-X-SKIP/);
    // the next part: held until it exists
    t0 = performance.now();
    const next = await app.inject({ url: `${base}_HLS_msn=${lastMsn}&_HLS_part=${lastPart + 1}` });
    const held = performance.now() - t0;
    console.log(`blocking reload held ${held.toFixed(0)} ms for the next part`);
    expect(next.statusCode).toBe(200);
    const npl = HLS.parse(next.body) as HLS.types.MediaPlaylist;
    expect(npl.targetDuration).toBe(2); // the demo's 2 s GOP
    expect(next.headers['cache-control']).toBe('public, max-age=12');
    const seg = npl.segments.find((s) => s.mediaSequenceNumber === lastMsn)!;
    const nextSeg = npl.segments.find((s) => s.mediaSequenceNumber === lastMsn + 1);
    expect((seg.parts ?? []).filter((p) => !p.hint).length > lastPart + 1 || nextSeg !== undefined).toBe(true);
    // delta update
    const delta = await app.inject({ url: `${base}_HLS_skip=YES` });
    expect(delta.statusCode).toBe(200);
    expect(delta.body).toMatch(/#EXT-X-SKIP:SKIPPED-SEGMENTS=\d+/);
  });

  it('the preload-hinted part blocks until complete; unknown files 404 with CORS', async () => {
    const pl = (await app.inject({ url: '/hls/demo/stream.m3u8' })).body;
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(pl)![1]!;
    const t0 = performance.now();
    const res = await app.inject({ url: `/hls/demo/${hint}` });
    console.log(`preload hint answered after ${(performance.now() - t0).toFixed(0)} ms`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('video/mp4');
    expect(res.rawPayload.toString('latin1', 4, 8)).toBe('moof');
    const nf = await app.inject({ url: '/hls/demo/part-000000-1.m4s' });
    expect(nf.statusCode).toBe(404);
    expect(nf.headers['access-control-allow-origin']).toBe('*');
    expect((await app.inject({ url: '/hls/nope/index.m3u8' })).statusCode).toBe(404);
    const pre = await app.inject({ method: 'OPTIONS', url: '/hls/demo/index.m3u8' });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/);
  });

  it('kicking an HLS viewer makes its further requests fail', async () => {
    const mv = await app.inject({ url: '/hls/demo/index.m3u8', headers: { 'user-agent': 'kick-me' } });
    const uri = mediaUri(mv.body);
    const id = /session=([0-9a-f]+)/.exec(uri)![1]!;
    const s = gw.sessions.get(id)!;
    expect(s).toMatchObject({ protocol: 'hls', stream: 'demo' });
    expect((await app.inject({ url: `/hls/demo/${uri}`, headers: { 'user-agent': 'kick-me' } })).statusCode).toBe(200);
    expect(s.bytesSent()).toBe(0);
    expect(gw.sessions.kick(id)).toBe(true);
    expect(gw.sessions.get(id)).toBeUndefined();
    expect((await app.inject({ url: `/hls/demo/${uri}`, headers: { 'user-agent': 'kick-me' } })).statusCode).toBe(404);
  });

  it('is held until hls.js can start past the first segment (it loop-loads the parts of a lone first segment)', async () => {
    const mv = await app.inject({ url: '/hls/fresh/index.m3u8' });
    expect(mv.statusCode).toBe(200);
    // 'fresh' has no muxer yet: it starts from the GOP cache, inside its first segment; without the
    // hold this playlist would list no complete segment at all.
    const res = await app.inject({ url: `/hls/fresh/${mediaUri(mv.body)}` });
    expect(res.statusCode).toBe(200);
    const pl = HLS.parse(res.body) as HLS.types.MediaPlaylist;
    // two complete segments, or one and enough parts of the next that hls.js's start point
    // (PART-HOLD-BACK 0.6 s behind the edge) falls after the first segment, with a part to spare
    const complete = pl.segments.filter((s) => s.uri).length;
    const open = pl.segments.filter((s) => !s.uri).flatMap((s) => s.parts ?? []).filter((p) => !p.hint);
    const openSec = open.reduce((a, p) => a + (p.duration ?? 0), 0);
    console.log(`first media playlist of a new muxer: ${complete} complete segment(s), ${openSec.toFixed(1)} s of parts after them`);
    expect(complete >= 2 || (complete === 1 && openSec >= 0.6 + 2 * 0.2 - 1e-6)).toBe(true);
    // and a blocking request made right away for a part beyond the first segment is answered too
    const blocking = await app.inject({ url: `/hls/fresh/${mediaUri(mv.body)}&_HLS_msn=${(pl.mediaSequenceBase ?? 0) + 2}&_HLS_part=0` });
    expect(blocking.statusCode).toBe(200);
  }, 20_000);

  it('503 when nothing new is produced within 3 target durations (camera stopped)', async () => {
    const pl = HLS.parse((await app.inject({ url: '/hls/demo/stream.m3u8' })).body) as HLS.types.MediaPlaylist;
    const lastMsn = pl.segments[pl.segments.length - 1]!.mediaSequenceNumber;
    await gw.camera('demo')!.stop();
    const t0 = performance.now();
    const res = await app.inject({ url: `/hls/demo/stream.m3u8?_HLS_msn=${lastMsn + 1}` });
    const ms = performance.now() - t0;
    expect(res.statusCode).toBe(503);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(ms).toBeGreaterThanOrEqual(3 * pl.targetDuration * 1000 - 50);
    gw.camera('demo')!.start();
  }, 20_000);
});

describe('HLS rights, on-demand start and idle stop', () => {
  let gw: Gateway;
  let app: FastifyInstance;
  beforeAll(async () => {
    gw = gatewayFrom(
      [
        'users:',
        '  - name: guard',
        '    token: tok-guard',
        '    role: viewer',
        '    cameras: ["lazy"]',
        'cameras:',
        '  lazy:',
        '    url: builtin:demo',
        '    onDemand: true',
        '  other:',
        '    url: builtin:demo',
        '    onDemand: true',
        '',
      ].join('\n'),
    );
    app = Fastify({ logger: false });
    await app.register(hlsRoutes, { gateway: gw, idleMs: 1500 });
  });
  afterAll(async () => {
    await app.close();
    await gw.stop();
  });

  it('401 without token, 403 for another camera, ?token= propagated on every URI; onDemand camera started then released', async () => {
    const no = await app.inject({ url: '/hls/lazy/index.m3u8' });
    expect(no.statusCode).toBe(401);
    expect(no.headers['access-control-allow-origin']).toBe('*');
    expect((await app.inject({ url: '/hls/other/index.m3u8?token=tok-guard' })).statusCode).toBe(403);
    expect(gw.camera('lazy')!.currentState).toBe('idle');
    const mv = await app.inject({ url: '/hls/lazy/index.m3u8?token=tok-guard' });
    expect(mv.statusCode).toBe(200);
    expect(gw.camera('lazy')!.currentState).toBe('streaming');
    const uri = mediaUri(mv.body);
    expect(uri).toMatch(/token=tok-guard/);
    const pl = (await app.inject({ url: `/hls/lazy/${uri}` })).body;
    const uris = [...pl.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!);
    expect(uris.length).toBeGreaterThan(2);
    for (const u of uris) expect(u).toMatch(/token=tok-guard/);
    expect(gw.hub.get('lazy')!.stats().consumers).toBe(1);
    // idle: the muxer stops and lets go of the stream
    await new Promise((r) => setTimeout(r, 3000));
    expect(gw.hub.get('lazy')!.stats().consumers).toBe(0);
  }, 20_000);
});
