/**
 * The three commands as a user runs them (`node bin/camgate.js …`, what `npx camgate` executes):
 * check, probe against a GStreamer camera, and serve with the demo and GStreamer cameras.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera, type GstCamera } from '../helpers/gst-camera.ts';
import { freePort } from '../helpers/ports.ts';
import { probeUrl } from '../helpers/ffprobe.ts';
import { RawRtspClient } from '../unit/rtsp/server-helpers.ts';
import { spawnServe } from '../helpers/serve.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin/camgate.js');
const dir = mkdtempSync(path.join(tmpdir(), 'camgate-cli-'));

function run(args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, timeout, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('camgate check', () => {
  it('accepts the shipped example configs (exit 0)', () => {
    for (const f of ['cameras.yaml', 'cameras.demo.yaml']) {
      const r = run(['check', f]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('OK');
    }
  });

  it('rejects a bad config with FILE:LINE:COL: message per error (exit 1), never printing the password', () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(
      file,
      ['cameras:', '  lobby:', '    url: rtsp://admin:Sup3rS3cret@:554/x', '    transprot: tcp', '  gate:', '    url: rtsp://10.0.0.2/s', '    transport: carrier-pigeon', ''].join('\n'),
    );
    const r = run(['check', file]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    expect(r.stdout).toMatch(/:4:5: .*transprot/);
    expect(r.stdout).toMatch(/:7:16: .*transport/);
    expect(r.stdout).not.toContain('Sup3rS3cret');
  });

  it('exits 1 for a missing file', () => {
    const r = run(['check', path.join(dir, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/nope\.yaml:1:1: /);
  });
});

describe.skipIf(!haveTools('docker-compose'))('docker-compose.yml', () => {
  it('is accepted by docker-compose config, publishes the three ports and mounts cameras.yaml', () => {
    const r = spawnSync('docker-compose', ['config'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr.replace(/.*Warning.*\n?/g, '')).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/8080/);
    expect(r.stdout).toMatch(/8554/);
    // the WebRTC range expands to one UDP entry per port
    expect(r.stdout).toMatch(/protocol: udp\s+published: 8555\s+target: 8555/);
    expect(r.stdout).toMatch(/protocol: udp\s+published: 8655\s+target: 8655/);
    expect(r.stdout).toMatch(/cameras\.yaml/);
  });
});

describe.skipIf(!haveTools('gst-rtsp-server'))('camgate probe and serve with a GStreamer camera', () => {
  it('probe prints the tracks, codec strings, resolution, fps and transport (text and --json)', async () => {
    const g = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h264+aac' }], width: 320, height: 240, fps: 15, gop: 15 });
    cleanups.push(() => g.stop());
    const json = run(['probe', g.url('/cam'), '--transport', 'tcp', '--json', '--seconds', '2']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const p = JSON.parse(json.stdout);
    expect(p.transport).toBe('tcp');
    expect(p.tracks[0]).toMatchObject({ kind: 'video', codec: 'H264', width: 320, height: 240 });
    expect(p.tracks[0].codecString).toMatch(/^avc1\.[0-9a-f]{6}$/);
    expect(p.tracks[0].framesReceived).toBeGreaterThan(10);
    expect(p.tracks[0].keyframes).toBeGreaterThanOrEqual(1);
    expect(p.tracks[1]).toMatchObject({ kind: 'audio', codec: 'AAC', codecString: 'mp4a.40.2' });
    expect(p.quality.packetsReceived).toBeGreaterThan(0);

    const text = run(['probe', g.url('/cam'), '--transport', 'udp', '--seconds', '1']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/transport:\s+udp/);
    expect(text.stdout).toMatch(/video H264 avc1\.\w+\s+320x240/);
    expect(text.stdout).toMatch(/audio AAC mp4a\.40\.2/);
  }, 60_000);

  it('probe reports a wrong password as a 401 without printing it', async () => {
    const g = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h264' }], auth: { method: 'digest', user: 'admin', password: 'right' } });
    cleanups.push(() => g.stop());
    const url = g.url('/cam').replace('rtsp://', 'rtsp://admin:Wr0ngPassw0rd@');
    const r = run(['probe', url, '--transport', 'tcp']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/401/);
    expect(r.stderr + r.stdout).not.toContain('Wr0ngPassw0rd');
  }, 60_000);

  it('serve takes the restream UDP ports and multicast from server.restream, and ffprobe reads the demo over UDP with that config', async () => {
    const http = await freePort();
    const rtspPort = await freePort();
    // A range of 40 UDP ports from a base that is free now (pairs another process holds are skipped).
    const base = 2 * Math.floor((await freePort()) / 2);
    const udp = { min: Math.min(base, 65400), max: Math.min(base, 65400) + 39 };
    const mcast = { min: udp.max + 1, max: udp.max + 20 };
    const cfg = path.join(dir, 'restream.yaml');
    writeFileSync(
      cfg,
      [
        'server:',
        `  http: "127.0.0.1:${http}"`,
        `  rtsp: "127.0.0.1:${rtspPort}"`,
        '  restream:',
        `    udpPorts: "${udp.min}-${udp.max}"`,
        '    multicastGroups: 239.255.77.16/28',
        `    multicastPorts: "${mcast.min}-${mcast.max}"`,
        '    multicastTtl: 3',
        'cameras:',
        '  demo:',
        '    url: builtin:demo',
        '',
      ].join('\n'),
    );
    const serve = spawnServe(cfg);
    cleanups.push(() => serve.stop());
    const url = `rtsp://127.0.0.1:${rtspPort}/demo`;
    let c: RawRtspClient | undefined;
    for (let i = 0; i < 100 && !c; i++) {
      await new Promise((r) => setTimeout(r, 200));
      c = await RawRtspClient.connect(rtspPort).catch(() => undefined);
    }
    expect(c).toBeDefined();
    cleanups.push(() => c!.close());
    const d = await c!.request('DESCRIBE', url);
    expect(d.statusCode).toBe(200);
    const control = `${d.headers.get('Content-Base')}trackID=0`;
    const unicast = await c!.request('SETUP', control, { Transport: 'RTP/AVP;unicast;client_port=40000-40001' });
    expect(unicast.statusCode).toBe(200);
    const sp = /server_port=(\d+)-(\d+)/.exec(unicast.headers.get('Transport') ?? '');
    expect(sp).not.toBeNull();
    expect(Number(sp![1])).toBeGreaterThanOrEqual(udp.min);
    expect(Number(sp![2])).toBeLessThanOrEqual(udp.max);
    expect(Number(sp![1]) % 2).toBe(0);
    const m = await RawRtspClient.connect(rtspPort);
    cleanups.push(() => m.close());
    await m.request('DESCRIBE', url);
    const multicast = await m.request('SETUP', control, { Transport: 'RTP/AVP;multicast' });
    expect(multicast.statusCode).toBe(200);
    const t = multicast.headers.get('Transport') ?? '';
    const dest = /destination=239\.255\.77\.(\d+)/.exec(t);
    expect(dest, t).not.toBeNull();
    expect(Number(dest![1])).toBeGreaterThanOrEqual(16);
    expect(Number(dest![1])).toBeLessThan(32);
    const port = /port=(\d+)-(\d+)/.exec(t);
    expect(Number(port![1])).toBeGreaterThanOrEqual(mcast.min);
    expect(Number(port![2])).toBeLessThanOrEqual(mcast.max);
    expect(t).toMatch(/ttl=3/);
    // An independent reader over UDP with this config (its server ports come from the same pool).
    const probed = await probeUrl(url, { rtspTransport: 'udp', countFrames: true, timeoutMs: 30_000 });
    const video = probed.streams.find((s) => s.codec_type === 'video');
    expect(video?.codec_name).toBe('h264');
    expect(Number(video?.nb_read_frames ?? 0)).toBeGreaterThan(10);
  }, 60_000);

  it('serve pulls the demo and GStreamer cameras, serves their status, and keeps passwords out of logs', async () => {
    const secret = 'Zx9#Secret!';
    const g = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h265+pcma' }], width: 320, height: 240, auth: { method: 'digest', user: 'admin', password: secret } });
    cleanups.push(() => g.stop());
    const http = await freePort();
    const cfg = path.join(dir, 'serve.yaml');
    writeFileSync(
      cfg,
      [
        'server:',
        `  http: "127.0.0.1:${http}"`,
        `  rtsp: "127.0.0.1:${await freePort()}"`,
        'cameras:',
        '  demo:',
        '    url: builtin:demo',
        '  lobby:',
        '    name: Lobby',
        `    url: ${g.url('/cam').replace('rtsp://', `rtsp://admin:${encodeURIComponent(secret)}@`)}`,
        '    transport: udp',
        '  wrong:',
        `    url: ${g.url('/cam')}`,
        '    username: admin',
        '    password: "not-the-Secret"',
        '    transport: tcp',
        '',
      ].join('\n'),
    );
    const serve = spawnServe(cfg);
    cleanups.push(() => serve.stop());
    const base = `http://127.0.0.1:${http}`;
    let cams: { id: string; state: string; lastError: string | null; transport: string; tracks: { codec: string; width?: number }[]; quality: { packetsReceived: number } }[] = [];
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        cams = (await (await fetch(`${base}/api/cameras`)).json()) as typeof cams;
      } catch {
        continue;
      }
      const by = Object.fromEntries(cams.map((c) => [c.id, c]));
      if (by.demo?.state === 'streaming' && by.lobby?.state === 'streaming' && by.lobby.quality.packetsReceived > 0 && by.wrong?.state === 'retrying') break;
    }
    const by = Object.fromEntries(cams.map((c) => [c.id, c]));
    expect(by.demo).toMatchObject({ state: 'streaming', transport: 'builtin' });
    expect(by.lobby).toMatchObject({ state: 'streaming', transport: 'udp' });
    expect(by.lobby!.tracks.map((t) => t.codec)).toEqual(['H265', 'PCMA']);
    expect(by.lobby!.tracks[0]!.width).toBe(320);
    expect(by.wrong!.state).toBe('retrying');
    expect(by.wrong!.lastError).toMatch(/401/);

    const one = await fetch(`${base}/api/cameras/lobby`);
    expect(one.status).toBe(200);
    expect(((await one.json()) as { name: string }).name).toBe('Lobby');
    const missing = await fetch(`${base}/api/cameras/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'not_found' });
    const health = await (await fetch(`${base}/api/health`)).json();
    expect(health).toMatchObject({ status: 'ok', cameras: { total: 3, streaming: 2 } });

    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('/wall/wall.js'); // the camera wall (issue 7)

    const all = JSON.stringify(cams);
    for (const s of [secret, encodeURIComponent(secret), 'not-the-Secret']) {
      expect(all).not.toContain(s);
      expect(serve.logs()).not.toContain(s);
    }
    expect(serve.logs()).toMatch(/camera lobby: streaming/);
    expect(serve.logs()).toMatch(/NO USERS CONFIGURED/);
  }, 90_000);
});
