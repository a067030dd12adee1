/**
 * The admin API as an integrator uses it, against `camgate serve` (the real process) and GStreamer
 * cameras: add a camera over HTTP, watch it stream, see an RTSP viewer (ffmpeg) in /api/sessions
 * and kick it, restart camgate and find the camera still there (persisted), edit the file by hand
 * and see it apply, break the file and see the refusal logged with FILE:LINE:COL.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera } from '../helpers/gst-camera.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin/camgate.js');
const TOKEN = 'adm1n-T0ken-xyz';
const CAM_SECRET = 'Cam#Secr3t!';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function serve(cfg: string) {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--config', cfg], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { logs: '' };
  child.stdout!.on('data', (d) => (out.logs += d));
  child.stderr!.on('data', (d) => (out.logs += d));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  cleanups.push(stop);
  return { child, out, stop };
}

async function until<T>(fn: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

describe.skipIf(!haveTools('gst-rtsp-server', 'ffmpeg'))('admin API against camgate serve', () => {
  it('add, stream, list and kick a viewer, survive a restart, hand-edit live, refuse a broken edit', async () => {
    const gst = await startGstCamera({
      mounts: [
        { path: '/one', spec: 'h264' },
        { path: '/two', spec: 'h265' },
      ],
      width: 320,
      height: 240,
      fps: 15,
      gop: 15,
      auth: { method: 'digest', user: 'admin', password: CAM_SECRET },
    });
    cleanups.push(() => gst.stop());
    const dir = mkdtempSync(path.join(tmpdir(), 'camgate-api-'));
    const cfg = path.join(dir, 'cameras.yaml');
    const http = await freePort();
    const rtsp = await freePort();
    writeFileSync(
      cfg,
      [
        '# integration test site',
        'server:',
        `  http: "127.0.0.1:${http}"`,
        `  rtsp: "127.0.0.1:${rtsp}"`,
        'users:',
        '  - name: admin',
        `    token: "${TOKEN}"`,
        '    role: admin',
        'cameras:',
        '  one:   # the first camera',
        `    url: ${gst.url('/one')}`,
        '    username: admin',
        `    password: "${CAM_SECRET}"`,
        '',
      ].join('\n'),
    );
    const base = `http://127.0.0.1:${http}`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    const api = async (method: string, url: string, body?: unknown) => {
      const r = await fetch(`${base}${url}`, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      const text = await r.text();
      return { status: r.status, json: text ? JSON.parse(text) : undefined, text };
    };
    const state = async (id: string) => (await api('GET', `/api/cameras/${id}`)).json?.state as string | undefined;

    let srv = serve(cfg);
    await until(async () => (await state('one')) === 'streaming', 30_000, 'camera one streaming');

    // 1. add a camera through the API
    const created = await api('POST', '/api/cameras', { id: 'two', name: 'Second', url: gst.url('/two'), username: 'admin', password: CAM_SECRET, transport: 'tcp' });
    expect(created.status).toBe(201);
    await until(async () => (await state('two')) === 'streaming', 30_000, 'camera two streaming');
    const two = (await api('GET', '/api/cameras/two')).json;
    expect(two.tracks[0]).toMatchObject({ codec: 'H265', width: 320, height: 240 });
    expect(readFileSync(cfg, 'utf8')).toContain('# the first camera');

    // 2. an RTSP viewer shows up in /api/sessions; kicking it disconnects it
    const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', `rtsp://admin:${TOKEN}@127.0.0.1:${rtsp}/one`, '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    cleanups.push(() => {
      if (ffmpeg.exitCode === null) ffmpeg.kill('SIGKILL');
    });
    const exited = new Promise<number | null>((resolve) => ffmpeg.once('exit', (code) => resolve(code)));
    const session = await until(async () => {
      const list = (await api('GET', '/api/sessions')).json as { id: string; protocol: string; stream: string; user: string | null; remoteAddress: string; bytesSent: number }[];
      return list.find((s) => s.protocol === 'rtsp' && s.stream === 'one' && s.bytesSent > 0);
    }, 20_000, 'RTSP session with bytes');
    expect(session).toMatchObject({ user: 'admin', camera: 'one' });
    expect(session.remoteAddress).toMatch(/127\.0\.0\.1/);
    expect((await api('GET', '/api/cameras/one')).json.viewers.rtsp).toBe(1);
    expect((await api('DELETE', `/api/sessions/${session.id}`)).status).toBe(204);
    const t0 = Date.now();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    expect(ffmpeg.exitCode !== null || ffmpeg.signalCode !== null).toBe(true);
    console.log(`kicked RTSP viewer: ffmpeg exited ${Date.now() - t0} ms after DELETE`);
    expect((await api('GET', '/api/sessions')).json.find((s: { id: string }) => s.id === session.id)).toBeUndefined();

    // 3. restart camgate: the API-added camera is still there (persisted), and streams
    await srv.stop();
    const logs1 = srv.out.logs;
    srv = serve(cfg);
    await until(async () => (await state('two')) === 'streaming', 30_000, 'camera two streaming after restart');
    expect((await api('GET', '/api/cameras')).json.map((c: { id: string }) => c.id)).toEqual(['one', 'two']);

    // 4. hand edit: camera two removed, three added → applied live
    const text = readFileSync(cfg, 'utf8');
    writeFileSync(cfg, `${text.slice(0, text.indexOf('  two:'))}  three:\n    url: builtin:demo\n`);
    await until(async () => (await state('three')) === 'streaming' && (await api('GET', '/api/cameras/two')).status === 404, 15_000, 'hand edit applied');

    // 5. a broken edit is refused with FILE:LINE:COL and the running cameras stay
    const good = readFileSync(cfg, 'utf8');
    writeFileSync(cfg, good.replace('url: builtin:demo', 'url: builtin:demo\n    onDemand: maybe'));
    const line = good.split('\n').findIndex((l) => l.includes('url: builtin:demo')) + 2;
    await until(async () => srv.out.logs.includes('was refused'), 15_000, 'refusal logged');
    expect(srv.out.logs).toContain(`${cfg}:${line}:15: cameras.three.onDemand`);
    expect(await state('three')).toBe('streaming');
    expect(await state('one')).toBe('streaming');

    for (const s of [CAM_SECRET, TOKEN]) {
      expect(logs1 + srv.out.logs).not.toContain(s);
      expect(JSON.stringify((await api('GET', '/api/cameras')).json)).not.toContain(s);
    }
  }, 150_000);
});
