/**
 * The wall's HTTP surface on its own (fastify inject): the page and its assets, hls.js from
 * node_modules, `GET /wall/session` and `GET /wall/cameras` with and without users and rights.
 */
import { describe, it, expect, afterAll } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { parseConfig } from '../../../src/config/load.ts';
import { Gateway } from '../../../src/gateway.ts';
import type { Logger } from '../../../src/camera/camera.ts';
import { webRoutes } from '../../../src/web/routes.ts';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const USERS = `
server:
  webrtc:
    iceServers: [{urls: "turn:turn.example:3478", username: "u", credential: "turn-secret"}]
users:
  - name: admin
    password: "adm1n-pw"
    role: admin
  - name: guard
    token: "guard-token-1"
    role: viewer
    cameras: ["lobby", "park-*"]
`;
const CAMERAS = `
cameras:
  lobby:
    name: Lobby
    url: rtsp://user:cam-Secret@127.0.0.1:1/main
    sub: rtsp://user:cam-Secret@127.0.0.1:1/sub
    tags: [floor1]
  park-1:
    url: builtin:demo
  office:
    url: builtin:demo
`;

const apps: FastifyInstance[] = [];
const gateways: Gateway[] = [];
afterAll(async () => {
  for (const a of apps) await a.close();
  for (const g of gateways) await g.stop();
});

let ip = 0;
async function app(yaml: string) {
  const parsed = parseConfig(yaml, 'test.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  // lobby's camera refuses connections (port 1): it is listed while it retries.
  const gateway = new Gateway(parsed.config, silent);
  gateway.start();
  gateways.push(gateway);
  const a = Fastify();
  await a.register(webRoutes, { gateway });
  apps.push(a);
  // A fresh client address per request keeps the failed-login limiter out of these tests.
  return (url: string, headers: Record<string, string> = {}) => a.inject({ method: 'GET', url, headers, remoteAddress: `10.9.0.${++ip % 250}` });
}

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('wall assets', () => {
  it('serves the page with a same-origin CSP, its modules, and hls.js from node_modules', async () => {
    const get = await app(CAMERAS);
    const page = await get('/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.body).toContain('<script type="module" src="/wall/wall.js">');
    for (const f of ['wall.js', 'player.js', 'whep.js', 'layout.js']) {
      const r = await get(`/wall/${f}`);
      expect(r.statusCode, f).toBe(200);
      expect(r.headers['content-type'], f).toMatch(/javascript/);
    }
    expect((await get('/wall/wall.css')).headers['content-type']).toMatch(/^text\/css/);
    const hls = await get('/vendor/hls.min.mjs');
    expect(hls.statusCode).toBe(200);
    expect(hls.headers['content-type']).toMatch(/javascript/);
    expect(hls.body).toMatch(/export\s*\{/);
    // Nothing outside public/ leaks, however the path is spelled.
    for (const u of ['/wall/../routes.ts', '/wall/%2e%2e/routes.ts', '/wall/..%2froutes.ts', '/wall/.hidden']) {
      expect((await get(u)).statusCode, u).toBeGreaterThanOrEqual(400);
    }
  });
});

describe('open access (no users)', () => {
  it('needs no sign-in and lists every camera, without source URLs', async () => {
    const get = await app(CAMERAS);
    const s = await get('/wall/session');
    expect(s.statusCode).toBe(200);
    expect(s.json()).toMatchObject({ open: true, user: null });
    const cams = await get('/wall/cameras');
    expect(cams.statusCode).toBe(200);
    const list = cams.json() as { id: string; name: string; state: string; tags: string[]; sub?: { state: string } }[];
    expect(list.map((c) => c.id)).toEqual(['lobby', 'park-1', 'office']);
    expect(list[0]).toMatchObject({ id: 'lobby', name: 'Lobby', tags: ['floor1'] });
    expect(list[0]!.state).toMatch(/^(connecting|retrying)$/);
    expect(list[0]!.sub!.state).toMatch(/^(connecting|retrying)$/);
    expect(list[1]!.state).toMatch(/^(connecting|streaming)$/);
    expect(list[1]!.sub).toBeUndefined();
    expect(cams.body).not.toContain('rtsp://');
    expect(cams.body).not.toContain('cam-Secret');
  });
});

describe('with users', () => {
  it('asks anonymous visitors to sign in, without a WWW-Authenticate (no browser dialog)', async () => {
    const get = await app(USERS + CAMERAS);
    const s = await get('/wall/session');
    expect(s.statusCode).toBe(200);
    expect(s.json()).toEqual({ open: false, user: null, iceServers: [] });
    const cams = await get('/wall/cameras');
    expect(cams.statusCode).toBe(401);
    expect(cams.headers['www-authenticate']).toBeUndefined();
  });

  it('refuses wrong credentials with 401 and a message, again without WWW-Authenticate', async () => {
    const get = await app(USERS + CAMERAS);
    for (const h of [{ authorization: basic('admin', 'nope') }, { authorization: 'Bearer nope' }, { authorization: 'Basic !!!' }]) {
      const r = await get('/wall/session', h);
      expect(r.statusCode).toBe(401);
      expect(r.headers['www-authenticate']).toBeUndefined();
      expect(r.json().message).toMatch(/wrong|invalid/);
    }
    expect((await get('/wall/cameras?token=nope')).statusCode).toBe(401);
  });

  it('an admin sees every camera and the ICE servers', async () => {
    const get = await app(USERS + CAMERAS);
    const s = await get('/wall/session', { authorization: basic('admin', 'adm1n-pw') });
    expect(s.json()).toMatchObject({ open: false, user: { name: 'admin', role: 'admin' } });
    expect(s.json().iceServers).toEqual([{ urls: 'turn:turn.example:3478', username: 'u', credential: 'turn-secret' }]);
    const cams = await get('/wall/cameras', { authorization: basic('admin', 'adm1n-pw') });
    expect((cams.json() as { id: string }[]).map((c) => c.id)).toEqual(['lobby', 'park-1', 'office']);
  });

  it('a viewer sees only the cameras its patterns allow, by header or ?token=', async () => {
    const get = await app(USERS + CAMERAS);
    const s = await get('/wall/session?token=guard-token-1');
    expect(s.json()).toMatchObject({ user: { name: 'guard', role: 'viewer' } });
    for (const r of [await get('/wall/cameras?token=guard-token-1'), await get('/wall/cameras', { authorization: 'Bearer guard-token-1' })]) {
      expect(r.statusCode).toBe(200);
      expect((r.json() as { id: string }[]).map((c) => c.id)).toEqual(['lobby', 'park-1']);
    }
  });
});
