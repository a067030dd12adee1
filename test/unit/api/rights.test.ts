/**
 * Users and rights on every HTTP surface: allowed and refused, for the admin API, /metrics, the
 * OpenAPI document and docs, snapshots, HLS and WHEP; the guard functions on their own; and the
 * failed-login rate limit.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import Fastify from 'fastify';
import { hashPassword, AccessControl, LoginLimiter, safeEqual, matchPattern } from '../../../src/auth/access.ts';
import { authorizeAdmin, authorizeStream } from '../../../src/http/guard.ts';
import { Gateway } from '../../../src/gateway.ts';
import { defaultConfig } from '../../../src/config/load.ts';
import { basic, captureLogger, startRig, until, type Rig } from './helpers.ts';

const ADMIN_HASH = hashPassword('hashed-Pa55');
const YAML = `
users:
  - name: admin
    password: "adm1n-Pa55"
    role: admin
  - name: root
    passwordHash: "${ADMIN_HASH}"
    role: admin
  - name: ops
    token: "ops-token-0123456789"
    role: admin
  - name: guard
    token: "guard-token-0123456789"
    role: viewer
    cameras: ["lobby", "park-*"]
  - name: everyone
    password: "all-cams-pw"
    role: viewer
cameras:
  lobby:
    url: builtin:demo
  park-1:
    url: builtin:demo
  office:
    url: builtin:demo
`;

const ADMIN = { authorization: basic('admin', 'adm1n-Pa55') };
const ROOT = { authorization: basic('root', 'hashed-Pa55') };
const OPS_BEARER = { authorization: 'Bearer ops-token-0123456789' };
const GUARD = { authorization: 'Bearer guard-token-0123456789' };
const EVERYONE = { authorization: basic('everyone', 'all-cams-pw') };

let rig: Rig;
let addr = 0;
/** A fresh client address per request, so rate limiting only applies where a test wants it. */
const nextIp = () => `10.1.${Math.floor(++addr / 250)}.${addr % 250}`;

beforeAll(async () => {
  rig = await startRig(YAML);
  await until(() => ['lobby', 'park-1', 'office'].every((id) => rig.gateway.status(id)?.state === 'streaming'), 10_000, 'cameras streaming');
});
afterAll(async () => rig?.close());

const req = (method: string, url: string, headers: Record<string, string> = {}, payload?: object, remoteAddress = nextIp()) =>
  rig.app.inject({ method: method as 'GET', url, headers, remoteAddress, ...(payload ? { payload } : {}) });

const ADMIN_ROUTES: [string, string, object?][] = [
  ['GET', '/api/cameras'],
  ['GET', '/api/cameras/lobby'],
  ['POST', '/api/cameras', { id: 'newcam', url: 'builtin:demo', enabled: false }],
  ['PUT', '/api/cameras/office', { url: 'builtin:demo' }],
  ['POST', '/api/cameras/office/restart'],
  ['GET', '/api/sessions'],
  ['DELETE', '/api/sessions/0123'],
  ['GET', '/api/openapi.json'],
  ['GET', '/api/docs'],
  ['GET', '/api/docs/json'],
  ['GET', '/metrics'],
  ['DELETE', '/api/cameras/newcam'],
];

describe('admin surfaces: /api (except health), /metrics, OpenAPI, docs', () => {
  it('GET /api/health needs no sign-in', async () => {
    const r = await req('GET', '/api/health');
    expect(r.statusCode).toBe(200);
    expect(r.json().access).toBe('users');
  });

  it.each(ADMIN_ROUTES)('%s %s: anonymous → 401 with a Basic challenge, viewer → 403, wrong password → 401', async (method, url, body) => {
    const anon = await req(method, url, {}, body);
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/^Basic realm="camgate"/);
    expect(anon.json().error).toBe('unauthorized');
    for (const viewer of [GUARD, EVERYONE]) {
      const v = await req(method, url, viewer, body);
      expect(v.statusCode).toBe(403);
      expect(v.json().error).toBe('forbidden');
    }
    const wrong = await req(method, url, { authorization: basic('admin', 'nope') }, body);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().message).toBe('wrong username or password');
    const badToken = await req(method, url, { authorization: 'Bearer nope' }, body);
    expect(badToken.statusCode).toBe(401);
  });

  it.each(ADMIN_ROUTES)('%s %s: admin by password, scrypt hash, bearer token and ?token= are let through', async (method, url, body) => {
    const sep = url.includes('?') ? '&' : '?';
    const tries: [Record<string, string>, string][] = [
      [ADMIN, url],
      [ROOT, url],
      [OPS_BEARER, url],
      [{}, `${url}${sep}token=ops-token-0123456789`],
    ];
    for (const [headers, u] of tries) {
      const r = await req(method, u, headers, body);
      expect([401, 403, 429], `${method} ${u} ${JSON.stringify(headers)} → ${r.statusCode} ${r.body.slice(0, 200)}`).not.toContain(r.statusCode);
      // Second POST of the same id is a 409, a DELETE after the first a 404: both past the guard.
      expect(r.statusCode).toBeLessThan(500);
    }
  });
});

describe('snapshots: the right camera', () => {
  it('a viewer gets the cameras its patterns match (exact and glob), 403 for others', async () => {
    for (const cam of ['lobby', 'park-1']) {
      const r = await req('GET', `/api/cameras/${cam}/snapshot.jpg?width=64`, GUARD);
      expect(r.statusCode, cam).toBe(200);
      expect(r.headers['content-type']).toBe('image/jpeg');
    }
    const r = await req('GET', '/api/cameras/office/snapshot.jpg?width=64', GUARD);
    expect(r.statusCode).toBe(403);
    expect(r.json().message).toMatch(/guard.*office/);
  });

  it('?token= works for <img> tags; anonymous → 401; a viewer without patterns sees every camera; admin too', async () => {
    expect((await req('GET', '/api/cameras/lobby/snapshot.jpg?width=64&token=guard-token-0123456789')).statusCode).toBe(200);
    const anon = await req('GET', '/api/cameras/lobby/snapshot.jpg');
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/Basic/);
    expect((await req('GET', '/api/cameras/office/snapshot.jpg?width=64', EVERYONE)).statusCode).toBe(200);
    expect((await req('GET', '/api/cameras/office/snapshot.jpg?width=64', ADMIN)).statusCode).toBe(200);
  });
});

describe('HLS and WHEP: the right camera', () => {
  it('HLS playlist: anonymous → 401, wrong camera → 403, right camera (header or ?token=) passes the guard', async () => {
    expect((await req('GET', '/hls/lobby/index.m3u8')).statusCode).toBe(401);
    expect((await req('GET', '/hls/office/index.m3u8', GUARD)).statusCode).toBe(403);
    expect((await req('GET', '/hls/office/index.m3u8?token=guard-token-0123456789')).statusCode).toBe(403);
    for (const r of [await req('GET', '/hls/lobby/index.m3u8', GUARD), await req('GET', '/hls/lobby/index.m3u8?token=guard-token-0123456789')]) {
      expect([401, 403]).not.toContain(r.statusCode);
    }
  });

  it('WHEP offer: anonymous → 401, wrong camera → 403, right camera passes the guard', async () => {
    const offer = { 'content-type': 'application/sdp' };
    const post = (url: string, h: Record<string, string>) => rig.app.inject({ method: 'POST', url, headers: { ...offer, ...h }, payload: 'v=0\r\n', remoteAddress: nextIp() });
    expect((await post('/whep/lobby', {})).statusCode).toBe(401);
    expect((await post('/whep/office', GUARD)).statusCode).toBe(403);
    // Past the guard the (invalid) offer itself is refused: anything but 401/403.
    expect([401, 403]).not.toContain((await post('/whep/lobby', GUARD)).statusCode);
  });
});

describe('failed sign-ins are rate-limited per address', () => {
  it('after 5 free failures the address is locked out with 429 + Retry-After, even with the right password; other addresses are not', async () => {
    const ip = '192.0.2.99';
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await req('GET', '/api/cameras', { authorization: basic('admin', `guess${i}`) }, undefined, ip)).statusCode);
    expect(codes).toEqual([401, 401, 401, 401, 401, 401]);
    const locked = await req('GET', '/api/cameras', ADMIN, undefined, ip);
    expect(locked.statusCode).toBe(429);
    expect(locked.json().error).toBe('too_many_requests');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // the same on a stream surface
    expect((await req('GET', '/api/cameras/lobby/snapshot.jpg', GUARD, undefined, ip)).statusCode).toBe(429);
    expect((await req('GET', '/api/cameras', ADMIN, undefined, '192.0.2.100')).statusCode).toBe(200);
    // Anonymous requests carry no guess: they are not limited (and still get 401).
    expect((await req('GET', '/api/cameras', {}, undefined, ip)).statusCode).toBe(401);
  });

  it('LoginLimiter: doubling lock from the 6th failure, capped at 60 s, cleared by success, forgotten after 15 min, bounded', () => {
    let now = 0;
    const l = new LoginLimiter(() => now);
    for (let i = 0; i < 5; i++) l.failure('a');
    expect(l.blockedFor('a')).toBe(0);
    l.failure('a');
    expect(l.blockedFor('a')).toBe(1000);
    l.failure('a');
    expect(l.blockedFor('a')).toBe(2000);
    for (let i = 0; i < 20; i++) l.failure('a');
    expect(l.blockedFor('a')).toBe(60_000);
    now += 60_001;
    expect(l.blockedFor('a')).toBe(0);
    l.success('a');
    for (let i = 0; i < 5; i++) l.failure('a');
    expect(l.blockedFor('a')).toBe(0);
    for (let i = 0; i < 6; i++) l.failure('b');
    now += 15 * 60_000 + 1;
    expect(l.blockedFor('b')).toBe(0);
    for (let i = 0; i < LoginLimiter.MAX_ENTRIES + 50; i++) l.failure(`ip${i}`);
    expect(l.size).toBeLessThanOrEqual(LoginLimiter.MAX_ENTRIES);
    expect(l.blockedFor(undefined)).toBe(0);
  });
});

describe('AccessControl', () => {
  const users = [
    { name: 'a', password: 'pw-a', role: 'admin' as const },
    { name: 'h', passwordHash: hashPassword('pw-h'), role: 'viewer' as const, cameras: ['cam?'] },
    { name: 't', token: 'tok-t', role: 'viewer' as const },
  ];
  it('checks passwords, scrypt hashes and tokens; patterns with * and ?; sub-streams follow their camera', () => {
    const ac = new AccessControl(users);
    expect(ac.verifyPassword('a', 'pw-a')?.role).toBe('admin');
    expect(ac.verifyPassword('a', 'pw-h')).toBeNull();
    expect(ac.verifyPassword('h', 'pw-h')?.name).toBe('h');
    expect(ac.verifyPassword('nobody', 'pw-h')).toBeNull();
    expect(ac.verifyPassword('t', 'tok-t')?.name).toBe('t');
    expect(ac.verifyToken('tok-t')?.name).toBe('t');
    expect(ac.verifyToken('pw-a')).toBeNull();
    const h = ac.verifyPassword('h', 'pw-h');
    expect(ac.canView(h, 'cam1')).toBe(true);
    expect(ac.canView(h, 'cam1/sub')).toBe(true);
    expect(ac.canView(h, 'cam12')).toBe(false);
    expect(ac.canView(null, 'cam1')).toBe(false);
    expect(ac.isAdmin(h)).toBe(false);
    expect(matchPattern('park-*', 'park-east')).toBe(true);
    expect(matchPattern('park-*', 'xpark-east')).toBe(false);
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });

  it('with no users everything is open; setUsers (config reload) closes it at once', () => {
    const ac = new AccessControl([]);
    expect(ac.open).toBe(true);
    expect(ac.authenticateHttp(undefined, undefined)).toEqual({ ok: true, principal: null });
    expect(ac.canView(null, 'x') && ac.isAdmin(null)).toBe(true);
    ac.setUsers(users);
    expect(ac.open).toBe(false);
    expect(ac.isAdmin(null)).toBe(false);
  });
});

describe('the guard functions on their own', () => {
  async function guardApp(users: typeof YAML | null) {
    const cfg = defaultConfig();
    if (users) cfg.users = [{ name: 'v', token: 'tv-123', role: 'viewer', cameras: ['lobby'] }, { name: 'a', password: 'pa-123', role: 'admin' }];
    const gw = new Gateway(cfg, captureLogger().log);
    const app = Fastify();
    app.get('/s/*', async (rq, reply) => {
      const p = authorizeStream(gw, rq, reply, (rq.params as { '*': string })['*']);
      if (p === undefined) return reply;
      return { who: p?.name ?? null };
    });
    app.get('/admin', async (rq, reply) => {
      const p = authorizeAdmin(gw, rq, reply);
      if (p === undefined) return reply;
      return { who: p?.name ?? null };
    });
    await app.ready();
    return app;
  }

  it('authorizeStream / authorizeAdmin: principal when allowed; 401/403 sent (and undefined returned) when refused', async () => {
    const app = await guardApp('users');
    const get = (url: string, h: Record<string, string> = {}) => app.inject({ url, headers: h });
    expect((await get('/s/lobby', { authorization: 'Bearer tv-123' })).json()).toEqual({ who: 'v' });
    expect((await get('/s/lobby/sub?token=tv-123')).json()).toEqual({ who: 'v' });
    expect((await get('/s/lobby2', { authorization: 'Bearer tv-123' })).statusCode).toBe(403);
    expect((await get('/s/lobby')).statusCode).toBe(401);
    expect((await get('/s/office', { authorization: basic('a', 'pa-123') })).json()).toEqual({ who: 'a' });
    expect((await get('/admin', { authorization: basic('a', 'pa-123') })).json()).toEqual({ who: 'a' });
    expect((await get('/admin', { authorization: 'Bearer tv-123' })).statusCode).toBe(403);
    const anon = await get('/admin');
    expect(anon.statusCode).toBe(401);
    expect(anon.json()).toEqual({ error: 'unauthorized', message: 'admin sign-in required' });
    await app.close();
  });

  it('with no users configured both let everyone through as the anonymous principal', async () => {
    const app = await guardApp(null);
    expect((await app.inject({ url: '/s/anything' })).json()).toEqual({ who: null });
    expect((await app.inject({ url: '/admin' })).json()).toEqual({ who: null });
    await app.close();
  });
});
