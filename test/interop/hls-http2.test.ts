/**
 * server.tls: the one fastify server speaks HTTPS with HTTP/2 (and still HTTP/1.1), so a wall of
 * many LL-HLS tiles is not capped by the browser's 6 HTTP/1.1 connections per host. Self-signed
 * certificate made by openssl here; the client is node:http2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import HLS from 'hls-parser';
import pino from 'pino';
import { Gateway } from '../../src/gateway.ts';
import { buildHttpServer } from '../../src/http/server.ts';
import { parseConfig } from '../../src/config/load.ts';

const log = pino({ level: 'silent' });
let dir: string;
let gw: Gateway;
let app: Awaited<ReturnType<typeof buildHttpServer>>;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'camgate-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const file = path.join(dir, 'cameras.yaml');
  const yaml = 'server:\n  tls:\n    cert: cert.pem\n    key: key.pem\ncameras:\n  demo:\n    url: builtin:demo\n';
  writeFileSync(file, yaml);
  const r = parseConfig(yaml, file);
  if (!r.ok) throw new Error(JSON.stringify(r));
  expect(r.config.server.tls).toEqual({ cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') });
  gw = new Gateway(r.config, log);
  gw.start();
  app = await buildHttpServer({ gateway: gw, logger: log });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
}, 30_000);

afterAll(async () => {
  await app?.close();
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function h2get(session: http2.ClientHttp2Session, p: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': p });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP/2 over TLS', () => {
  it('serves LL-HLS playlists and parts over one HTTP/2 connection, concurrently', async () => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    try {
      const mv = await h2get(session, '/hls/demo/index.m3u8');
      expect(mv.status).toBe(200);
      expect(mv.headers['content-type']).toBe('application/vnd.apple.mpegurl');
      const uri = (HLS.parse(mv.body.toString()) as HLS.types.MasterPlaylist).variants[0]!.uri;
      const media = await h2get(session, `/hls/demo/${uri}`);
      const pl = HLS.parse(media.body.toString()) as HLS.types.MediaPlaylist;
      const seg = pl.segments[pl.segments.length - 1]!;
      const last = seg.parts!.filter((p) => !p.hint).length - 1;
      // 16 blocking playlist requests (one per wall tile) in flight at once on the same connection
      const t0 = performance.now();
      const all = await Promise.all(
        Array.from({ length: 16 }, () => h2get(session, `/hls/demo/${uri}&_HLS_msn=${seg.mediaSequenceNumber}&_HLS_part=${last + 1}`)),
      );
      console.log(`16 concurrent blocking reloads over one HTTP/2 connection answered in ${(performance.now() - t0).toFixed(0)} ms`);
      for (const r of all) expect(r.status).toBe(200);
      const part = await h2get(session, `/hls/demo/${seg.parts![0]!.uri}`);
      expect(part.status).toBe(200);
      expect(part.body.toString('latin1', 4, 8)).toBe('moof');
    } finally {
      session.close();
    }
  }, 30_000);

  it('still accepts HTTP/1.1 over TLS', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/hls/demo/index.m3u8', rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(status).toBe(200);
  });
});

describe('server.tls config validation', () => {
  it('reports missing files and missing keys with file:line', () => {
    const r = parseConfig('server:\n  tls:\n    cert: /nonexistent/cert.pem\n', '/tmp/x.yaml');
    expect(r.ok).toBe(false);
    const msgs = (r as { errors: { path: string; message: string; line: number }[] }).errors;
    expect(msgs.find((e) => e.path === 'server.tls.cert')).toMatchObject({ line: 3, message: expect.stringMatching(/file not found/) });
    expect(msgs.find((e) => e.path === 'server.tls.key')?.message).toMatch(/needs key/);
    const bad = parseConfig('server:\n  tls:\n    cert: a\n    key: b\n    extra: 1\n', '/tmp/x.yaml');
    expect(bad.ok).toBe(false);
  });
});
