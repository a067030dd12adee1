/**
 * RTSPS: `camgate serve` with `server.tls` and `server.rtsps` restreams the demo camera over RTSP in
 * TLS, read by ffprobe and by GStreamer rtspsrc (GIO's TLS). Media goes interleaved in the TLS
 * connection; a UDP SETUP is refused with 461, and a client speaking plain RTSP to the RTSPS port
 * is dropped at the TLS handshake without disturbing the server.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { haveTools } from '../helpers/tools.ts';
import { rtspsrcRead } from '../helpers/gst-camera.ts';
import { probeUrl } from '../helpers/ffprobe.ts';
import { freePort } from '../helpers/ports.ts';
import { BIN, BIN_FLAGS, freeUdpRange } from './wall-rig.ts';

describe.skipIf(!haveTools('ffprobe', 'gst-launch-1.0', 'openssl'))('RTSPS restream', () => {
  let serve: ChildProcess | undefined;
  let logs = '';
  let rtspsPort: number;
  const url = () => `rtsps://127.0.0.1:${rtspsPort}/demo`;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'camgate-rtsps-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    rtspsPort = await freePort();
    const udp = await freeUdpRange(10);
    const cfg = path.join(dir, 'cameras.yaml');
    writeFileSync(
      cfg,
      [
        'server:',
        `  http: "127.0.0.1:${await freePort()}"`,
        `  rtsp: "127.0.0.1:${await freePort()}"`,
        `  rtsps: "127.0.0.1:${rtspsPort}"`,
        '  tls:',
        '    cert: cert.pem',
        '    key: key.pem',
        '  webrtc:',
        `    udpPorts: "${udp.min}-${udp.max}"`,
        'cameras:',
        '  demo:',
        '    url: builtin:demo',
        '',
      ].join('\n'),
    );
    // The real command line, so the config key, the certificate loading and the listener are tested together.
    const child = spawn(process.execPath, [...BIN_FLAGS, BIN, 'serve', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    serve = child;
    const keep = (d: Buffer) => (logs = (logs + d.toString()).slice(-200_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + 30_000;
    while (!(logs.includes('RTSPS restream on') && logs.includes('camera demo: streaming'))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`camgate serve did not start RTSPS:\n${logs.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 60_000);

  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve!.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
  });

  it('ffprobe reads and decodes the demo over rtsps:// (TCP interleaved in TLS)', async () => {
    const r = await probeUrl(url(), { rtspTransport: 'tcp', countFrames: true, timeoutMs: 30_000 });
    const v = r.streams.find((s) => s.codec_type === 'video');
    expect(v?.codec_name).toBe('h264');
    expect([v?.width, v?.height]).toEqual([640, 360]);
    expect(Number(v?.nb_read_frames)).toBeGreaterThan(20);
    expect(logs).toContain(`RTSPS restream on rtsps://127.0.0.1:${rtspsPort}/<camera>`);
  }, 40_000);

  it('GStreamer rtspsrc decodes it over TLS', async () => {
    const r = await rtspsrcRead(url(), { numBuffers: 20, latencyMs: 200, timeoutMs: 40_000, extraArgs: ['tls-validation-flags=0'] });
    expect(r.eos, r.out).toBe(true);
    expect([r.width, r.height]).toEqual([640, 360]);
  }, 45_000);

  it('refuses UDP over RTSPS with 461 and drops plain RTSP at the TLS handshake, then still serves', async () => {
    // ffmpeg forces TCP for rtsps://, so the UDP SETUP is sent by hand over TLS.
    const replies = await new Promise<string[]>((resolve, reject) => {
      const s = tls.connect({ port: rtspsPort, host: '127.0.0.1', rejectUnauthorized: false }, () => {
        s.write(`DESCRIBE ${url()} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n`);
      });
      const got: string[] = [];
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        const length = Number(/Content-Length: (\d+)/i.exec(buf)?.[1] ?? 0);
        if (got.length === 0 && end >= 0 && buf.length >= end + 4 + length) {
          got.push(buf);
          const control = /a=control:(\S+)/.exec(buf.slice(buf.indexOf('\nm=')))?.[1] ?? 'trackID=0';
          const base = /Content-Base: (\S+)/i.exec(buf)?.[1] ?? `${url()}/`;
          const target = /^rtsps?:/.test(control) ? control : base + control;
          buf = '';
          s.write(`SETUP ${target} RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP;unicast;client_port=40000-40001\r\n\r\n`);
        } else if (got.length === 1 && buf.includes('\r\n\r\n')) {
          got.push(buf);
          s.end();
          resolve(got);
        }
      });
      s.on('error', reject);
      setTimeout(() => reject(new Error(`no SETUP reply: ${JSON.stringify(got)} ${buf}`)), 10_000);
    });
    expect(replies[0]).toMatch(/^RTSP\/1\.0 200/);
    expect(replies[1]).toMatch(/^RTSP\/1\.0 461/);
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(rtspsPort, '127.0.0.1', () => s.write(`OPTIONS rtsp://127.0.0.1:${rtspsPort}/demo RTSP/1.0\r\nCSeq: 1\r\n\r\n`));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => resolve(got));
      setTimeout(() => s.destroy(), 5000);
    });
    expect(answer).not.toContain('RTSP/1.0 200');
    const r = await probeUrl(url(), { rtspTransport: 'tcp', timeoutMs: 20_000 });
    expect(r.streams.some((s) => s.codec_type === 'video')).toBe(true);
  }, 60_000);
});
