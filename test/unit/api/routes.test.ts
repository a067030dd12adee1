/**
 * Every admin API route and every error code it documents, on a gateway with open access (no users)
 * backed by a real cameras.yaml. Rights are in rights.test.ts.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { Type } from '@sinclair/typebox';
import { CameraStatus, Health, Session } from '../../../src/api/schemas.ts';
import { newSessionId } from '../../../src/stream/sessions.ts';
import { startRig, until, type Rig } from './helpers.ts';

const YAML = `# camgate test config
cameras:
  # the demo camera, always streaming
  demo:
    name: Demo camera   # shown on the wall
    url: builtin:demo
    tags: [floor1]
  dead:
    url: rtsp://admin:S3cretPw@127.0.0.1:9/none   # nothing listens on port 9
    transport: tcp
`;

let rig: Rig;

beforeAll(async () => {
  rig = await startRig(YAML);
  await until(() => rig.gateway.status('demo')?.state === 'streaming', 10_000, 'demo streaming');
});
afterAll(async () => rig?.close());

const inject = (method: string, url: string, payload?: unknown) =>
  rig.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : typeof payload === 'string' ? { payload, headers: { 'content-type': 'application/json' } } : { payload: payload as object }) });

describe('health', () => {
  it('GET /api/health answers ok with camera counts, matching its schema', async () => {
    const r = await inject('GET', '/api/health');
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(Value.Check(Health, body)).toBe(true);
    expect(body).toMatchObject({ status: 'ok', access: 'open', config: { persistent: true } });
    expect(body.cameras.total).toBe(2);
    expect(body.cameras.streaming).toBe(1);
  });
});

describe('cameras: read', () => {
  it('GET /api/cameras lists every camera with the full status shape, passwords redacted', async () => {
    const r = await inject('GET', '/api/cameras');
    expect(r.statusCode).toBe(200);
    const list = r.json();
    expect(Value.Check(Type.Array(CameraStatus), list)).toBe(true);
    expect(list.map((s: { id: string }) => s.id)).toEqual(['demo', 'dead']);
    expect(list[0]).toMatchObject({ name: 'Demo camera', state: 'streaming', tags: ['floor1'], viewers: { hls: 0, webrtc: 0, rtsp: 0 } });
    expect(list[0].tracks[0]).toMatchObject({ kind: 'video', codec: 'H264', width: 640, height: 360 });
    expect(r.body).not.toContain('S3cretPw');
  });

  it('GET /api/cameras/<id> answers one status, 404 {error, message} for an unknown id', async () => {
    const r = await inject('GET', '/api/cameras/demo');
    expect(r.statusCode).toBe(200);
    expect(r.json().id).toBe('demo');
    const nf = await inject('GET', '/api/cameras/nope');
    expect(nf.statusCode).toBe(404);
    expect(nf.json()).toEqual({ error: 'not_found', message: "no camera 'nope'" });
  });
});

describe('cameras: create, replace, delete (persisted)', () => {
  it('POST creates and starts the camera, answers 201 + Location, and saves it to cameras.yaml with comments kept', async () => {
    const r = await inject('POST', '/api/cameras', { id: 'lobby', name: 'Lobby', url: 'builtin:demo', tags: ['a'] });
    expect(r.statusCode).toBe(201);
    expect(r.headers.location).toBe('/api/cameras/lobby');
    expect(Value.Check(CameraStatus, r.json())).toBe(true);
    expect(r.json()).toMatchObject({ id: 'lobby', name: 'Lobby' });
    await until(() => rig.gateway.status('lobby')?.state === 'streaming', 10_000, 'lobby streaming');
    const text = readFileSync(rig.file, 'utf8');
    expect(text).toContain('# camgate test config');
    expect(text).toContain('# the demo camera, always streaming');
    expect(text).toContain('# nothing listens on port 9');
    expect(text).toMatch(/\n {2}lobby:\n {4}name: Lobby\n {4}url: builtin:demo\n/);
    // the id is the key, not a field
    expect(text).not.toMatch(/lobby:\n\s+id:/);
  });

  it('POST an existing id → 409', async () => {
    const r = await inject('POST', '/api/cameras', { id: 'demo', url: 'builtin:demo' });
    expect(r.statusCode).toBe(409);
    expect(r.json().error).toBe('exists');
  });

  it('POST a bad camera → 400 naming every wrong field and why (same words as cameras.yaml), file untouched', async () => {
    const before = readFileSync(rig.file, 'utf8');
    const r = await inject('POST', '/api/cameras', { id: 'gate', url: 'http://10.0.0.1/x', transport: 'carrier-pigeon', onDemand: 'yes', trnasport: 'tcp' });
    expect(r.statusCode).toBe(400);
    const body = r.json();
    expect(body.error).toBe('invalid_camera');
    const paths = body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['cameras.gate.url', 'cameras.gate.transport', 'cameras.gate.onDemand', 'cameras.gate.trnasport']));
    const byPath = Object.fromEntries(body.errors.map((e: { path: string; message: string }) => [e.path, e.message]));
    expect(byPath['cameras.gate.transport']).toMatch(/must be one of auto, tcp, udp, multicast/);
    expect(byPath['cameras.gate.trnasport']).toMatch(/did you mean "transport"/);
    expect(byPath['cameras.gate.url']).toMatch(/rtsp:\/\//);
    expect(readFileSync(rig.file, 'utf8')).toBe(before);
    expect(rig.gateway.status('gate')).toBeUndefined();
  });

  it('POST without id, with a bad id, a non-object or broken JSON → 400', async () => {
    const noId = await inject('POST', '/api/cameras', { url: 'builtin:demo' });
    expect(noId.statusCode).toBe(400);
    expect(noId.json().errors[0].path).toBe('id');
    const badId = await inject('POST', '/api/cameras', { id: 'a b/c', url: 'builtin:demo' });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().message).toMatch(/camera id "a b\/c"/);
    const arr = await inject('POST', '/api/cameras', '[1,2]');
    expect(arr.statusCode).toBe(400);
    expect(arr.json()).toMatchObject({ error: 'bad_request', message: 'body must be a JSON object' });
    const broken = await inject('POST', '/api/cameras', '{"id": "x",');
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error).toBe('bad_request');
  });

  it('a camera password sent to the API is saved to the file but never shown by the API', async () => {
    const r = await inject('POST', '/api/cameras', { id: 'secure', url: 'rtsp://127.0.0.1:9/x', username: 'admin', password: 'Hunter2!x', enabled: false });
    expect(r.statusCode).toBe(201);
    expect(r.json().state).toBe('disabled');
    expect(readFileSync(rig.file, 'utf8')).toContain('Hunter2!x');
    for (const url of ['/api/cameras', '/api/cameras/secure']) expect((await inject('GET', url)).body).not.toContain('Hunter2');
  });

  it('PUT replaces the camera (fields left out go back to defaults), keeping comments on its unchanged lines', async () => {
    const r = await inject('PUT', '/api/cameras/demo', { name: 'Demo camera', url: 'builtin:demo', transport: 'tcp' });
    expect(r.statusCode).toBe(200);
    expect(r.json().tags).toEqual([]);
    const text = readFileSync(rig.file, 'utf8');
    expect(text).toContain('name: Demo camera # shown on the wall');
    expect(text).toMatch(/demo:\n {4}name: Demo camera # shown on the wall\n {4}url: builtin:demo\n {4}transport: tcp\n/);
    expect(text).not.toContain('floor1');
  });

  it('PUT an unknown id → 404, a mismatched body id → 400, a bad field → 400', async () => {
    expect((await inject('PUT', '/api/cameras/nope', { url: 'builtin:demo' })).statusCode).toBe(404);
    const mismatch = await inject('PUT', '/api/cameras/demo', { id: 'other', url: 'builtin:demo' });
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.json().errors[0].path).toBe('id');
    const bad = await inject('PUT', '/api/cameras/demo', { url: 'builtin:demo', audio: 'loud' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0]).toMatchObject({ path: 'cameras.demo.audio' });
  });

  it('DELETE removes the camera from the gateway and the file → 204, then 404', async () => {
    const r = await inject('DELETE', '/api/cameras/secure');
    expect(r.statusCode).toBe(204);
    expect(rig.gateway.status('secure')).toBeUndefined();
    expect(readFileSync(rig.file, 'utf8')).not.toContain('secure:');
    expect((await inject('DELETE', '/api/cameras/secure')).statusCode).toBe(404);
  });
});

describe('restart', () => {
  it('POST /api/cameras/<id>/restart reconnects it (new stream epoch) → 202; unknown → 404', async () => {
    await until(() => rig.gateway.status('lobby')?.state === 'streaming', 10_000, 'lobby streaming');
    const epoch = rig.gateway.hub.get('lobby')!.epoch;
    const r = await inject('POST', '/api/cameras/lobby/restart');
    expect(r.statusCode).toBe(202);
    expect(r.json().id).toBe('lobby');
    await until(() => rig.gateway.hub.get('lobby')!.epoch > epoch && rig.gateway.status('lobby')?.state === 'streaming', 10_000, 'lobby restarted');
    expect((await inject('POST', '/api/cameras/nope/restart')).statusCode).toBe(404);
  });
});

describe('sessions', () => {
  it('GET lists viewers of every kind with address, user, bytes and start; DELETE kicks one → 204, unknown → 404', async () => {
    const kicked: string[] = [];
    const ids: string[] = [];
    for (const [protocol, stream] of [
      ['hls', 'demo'],
      ['webrtc', 'lobby'],
      ['rtsp', 'demo'],
    ] as const) {
      const id = newSessionId();
      ids.push(id);
      const remove = rig.gateway.sessions.add({
        id,
        protocol,
        stream,
        remoteAddress: '192.0.2.7',
        user: protocol === 'rtsp' ? 'guard' : undefined,
        startedAt: new Date('2026-01-01T00:00:00Z'),
        bytesSent: () => 1000,
        kick: () => {
          kicked.push(id);
          remove();
        },
      });
    }
    const r = await inject('GET', '/api/sessions');
    expect(r.statusCode).toBe(200);
    const list = r.json();
    expect(Value.Check(Type.Array(Session), list)).toBe(true);
    expect(list).toHaveLength(3);
    expect(list.find((s: { protocol: string }) => s.protocol === 'rtsp')).toMatchObject({ stream: 'demo', camera: 'demo', remoteAddress: '192.0.2.7', user: 'guard', bytesSent: 1000, startedAt: '2026-01-01T00:00:00.000Z' });
    expect((await inject('GET', '/api/cameras/demo')).json().viewers).toEqual({ hls: 1, webrtc: 0, rtsp: 1 });

    const del = await inject('DELETE', `/api/sessions/${ids[0]}`);
    expect(del.statusCode).toBe(204);
    expect(kicked).toEqual([ids[0]]);
    expect((await inject('GET', '/api/sessions')).json()).toHaveLength(2);
    expect((await inject('DELETE', `/api/sessions/${ids[0]}`)).statusCode).toBe(404);
    for (const id of ids.slice(1)) rig.gateway.sessions.kick(id);
  });
});

describe('OpenAPI and docs', () => {
  it('GET /api/openapi.json documents every fixed route with its schemas', async () => {
    const r = await inject('GET', '/api/openapi.json');
    expect(r.statusCode).toBe(200);
    const spec = r.json();
    expect(spec.openapi).toBe('3.0.3');
    const want: [string, string][] = [
      ['/api/cameras', 'get'],
      ['/api/cameras', 'post'],
      ['/api/cameras/{id}', 'get'],
      ['/api/cameras/{id}', 'put'],
      ['/api/cameras/{id}', 'delete'],
      ['/api/cameras/{id}/restart', 'post'],
      ['/api/cameras/{id}/snapshot.jpg', 'get'],
      ['/api/sessions', 'get'],
      ['/api/sessions/{id}', 'delete'],
      ['/api/health', 'get'],
      ['/metrics', 'get'],
    ];
    for (const [p, m] of want) expect(spec.paths[p]?.[m], `${m} ${p}`).toBeDefined();
    const post = spec.paths['/api/cameras'].post;
    expect(post.requestBody.content['application/json'].schema.properties.transport).toBeDefined();
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['201', '400', '409']));
    expect(spec.paths['/api/cameras/{id}'].get.responses['200'].content['application/json'].schema.properties.quality).toBeDefined();
  });

  it('GET /api/docs serves the Swagger UI page', async () => {
    const r = await inject('GET', '/api/docs');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/html/);
    expect(r.body).toContain('swagger-ui');
  });
});

describe('unknown routes', () => {
  it('answer 404 {error, message}', async () => {
    const r = await inject('GET', '/api/nothing');
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ error: 'not_found' });
  });
});
