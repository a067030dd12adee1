// Test rig of the camera wall (test/interop/wall.test.ts, bench/wall.ts): GStreamer cameras, a real
// `camgate serve` process, and readers of the wall's tiles in a Playwright page.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { startGstCamera, type GstCamera } from '../helpers/gst-camera.ts';
import { freePort } from '../helpers/ports.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin/camgate.js');
/** The Node flags of bin/camgate.js's shebang (`node bin/camgate.js` would run without them). */
export const BIN_FLAGS = (readFileSync(BIN, 'utf8').split('\n')[0] ?? '').split(/\s+/).filter((a) => a.startsWith('--'));
export const OUT_DIR = path.join(ROOT, 'test-output');

/** What a tile shows, read from its data attributes and its <video>. */
export interface TileView {
  camera: string;
  stream: string;
  state: string;
  protocol: string;
  frames: number;
  /** ms from navigation start / from the tile's player start to its first frame ('' before) */
  ttff: string;
  ttffPlayer: string;
  rate: string;
  error: string;
  videoWidth: number;
  videoHeight: number;
  /** the <video> poster: a blob: URL once the tile's snapshot arrived */
  poster: string;
}

/** The few DOM members read here (this project's tsconfig has no DOM lib). */
interface DomTile {
  dataset: Record<string, string | undefined>;
  querySelector(sel: string): { textContent: string | null; videoWidth: number; videoHeight: number; poster: string };
}

export function tiles(page: Page): Promise<TileView[]> {
  return page.$$eval('#wall .tile', (els) =>
    els.map((el) => {
      const e = el as unknown as DomTile;
      const v = e.querySelector('video');
      return {
        camera: e.dataset.camera ?? '',
        stream: e.dataset.stream ?? '',
        state: e.dataset.state ?? '',
        protocol: e.dataset.protocol ?? '',
        frames: Number(e.dataset.frames ?? 0),
        ttff: e.dataset.ttff ?? '',
        ttffPlayer: e.dataset.ttffPlayer ?? '',
        rate: e.querySelector('.rate').textContent ?? '',
        error: e.querySelector('.error').textContent ?? '',
        videoWidth: v.videoWidth,
        videoHeight: v.videoHeight,
        poster: v.poster,
      };
    }),
  );
}

/**
 * Waits until the wall has exactly `count` tiles and every one satisfies `ok`; returns them.
 * Throws with the tiles' last state on timeout (so a failure says which tile and why).
 */
/** Columns of the wall's CSS grid as laid out. */
export async function gridColumns(page: Page): Promise<number> {
  return Number(await page.evaluate(`getComputedStyle(document.getElementById('wall')).gridTemplateColumns.split(' ').length`));
}

/** The fullscreen view: its data attributes and its video's size and mute state. */
export interface FullViewState {
  camera?: string;
  state?: string;
  protocol?: string;
  videoWidth: number;
  muted: boolean;
  /** Chromium's count of decoded audio bytes of the element. */
  audioBytes: number;
}

export async function fullView(page: Page): Promise<FullViewState> {
  return (await page.evaluate(`(() => {
    const f = document.getElementById('full');
    const v = document.getElementById('full-video');
    return { ...f.dataset, videoWidth: v.videoWidth, muted: v.muted, audioBytes: v.webkitAudioDecodedByteCount ?? 0 };
  })()`)) as FullViewState;
}

export async function waitTiles(page: Page, count: number, ok: (t: TileView) => boolean, timeoutMs: number): Promise<TileView[]> {
  const deadline = Date.now() + timeoutMs;
  let last: TileView[] = [];
  for (;;) {
    last = await tiles(page);
    if (last.length === count && last.every(ok)) return last;
    if (Date.now() > deadline) {
      throw new Error(`wall tiles not as expected after ${timeoutMs} ms (want ${count}):\n${last.map((t) => JSON.stringify(t)).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A UDP range of `n` ports that were all free a moment ago (WebRTC media ports of the gateway). */
export async function freeUdpRange(n: number): Promise<{ min: number; max: number }> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const min = 20000 + Math.floor(Math.random() * 30000);
    const socks: dgram.Socket[] = [];
    let ok = true;
    for (let p = min; p < min + n && ok; p++) {
      const s = dgram.createSocket('udp4');
      ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.bind(p, '127.0.0.1', () => resolve(true));
      });
      socks.push(s);
    }
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (ok) return { min, max: min + n - 1 };
  }
  throw new Error('no free UDP range');
}

export interface ServeProcess {
  base: string;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

/** `node bin/camgate.js serve --config <yaml>`; resolves once /api/health answers. */
export async function startServe(yaml: (ports: { http: number; rtsp: number; udp: { min: number; max: number } }) => string): Promise<ServeProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'camgate-wall-'));
  const http = await freePort();
  const rtsp = await freePort();
  const udp = await freeUdpRange(40);
  const cfg = path.join(dir, 'cameras.yaml');
  writeFileSync(cfg, yaml({ http, rtsp, udp }));
  // WALL_SERVE_FLAGS: extra Node flags for the gateway (e.g. --cpu-prof when looking into bench:wall).
  const extra = (process.env.WALL_SERVE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...BIN_FLAGS, ...extra, BIN, 'serve', '--config', cfg], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  const keep = (d: Buffer) => {
    logs = (logs + d.toString()).slice(-200_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const base = `http://127.0.0.1:${http}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`camgate serve exited (${child.exitCode}):\n${logs}`);
    try {
      if ((await fetch(`${base}/api/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 150) {
      await stop();
      throw new Error(`camgate serve did not answer /api/health:\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { base, child, logs: () => logs, stop };
}

/** Waits until every camera (and sub-stream) reports 'streaming'. */
export async function waitStreaming(base: string, authorization: string, ids: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const cams = (await (await fetch(`${base}/api/cameras`, { headers: authorization ? { Authorization: authorization } : {} })).json()) as { id: string; state: string; sub?: { state: string } }[];
      last = JSON.stringify(cams.map((c) => [c.id, c.state, c.sub?.state]));
      const by = new Map(cams.map((c) => [c.id, c]));
      if (ids.every((id) => by.get(id)?.state === 'streaming' && (!by.get(id)!.sub || by.get(id)!.sub!.state === 'streaming'))) return;
    } catch {
      // retry
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`cameras not streaming after ${timeoutMs} ms: ${last}`);
}

export interface WallRig {
  base: string;
  adminToken: string;
  /** The camera the tests stop and restart (its own GStreamer process). */
  cam4: GstCamera;
  serve: ServeProcess;
  stop(): Promise<void>;
}

/**
 * cam1 (640x480 main + 320x240 sub, H.264 + AAC, tag yard), cam2 (tag lobby), cam3 (H.264 + PCMU)
 * and cam4 (its own process, to be stopped), all 320x240 @ 15 fps with a 1 s GOP, plus the demo.
 * Users: an admin (password and token) and a viewer (token) limited to `viewerCameras`.
 */
export async function startWallRig(o: { admin: { user: string; password: string }; viewerToken: string; viewerCameras: string[] }): Promise<WallRig> {
  const small = { width: 320, height: 240, fps: 15, gop: 15 };
  const started: GstCamera[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((c) => c.stop()));
  };
  try {
    const [a, b, c] = await Promise.all([
      startGstCamera({ ...small, mounts: [{ path: '/cam1sub', spec: 'h264' }, { path: '/cam2', spec: 'h264' }, { path: '/cam3', spec: 'h264+pcmu' }] }),
      startGstCamera({ width: 640, height: 480, fps: 15, gop: 15, mounts: [{ path: '/cam1', spec: 'h264+aac' }] }),
      startGstCamera({ ...small, mounts: [{ path: '/cam4', spec: 'h264' }] }),
    ]);
    started.push(a, b, c);
    const adminToken = 'admin-token-456';
    const serve = await startServe(({ http, rtsp, udp }) =>
      [
        'server:',
        `  http: "127.0.0.1:${http}"`,
        `  rtsp: "127.0.0.1:${rtsp}"`,
        '  webrtc:',
        `    udpPorts: "${udp.min}-${udp.max}"`,
        'users:',
        `  - name: ${o.admin.user}`,
        `    password: "${o.admin.password}"`,
        `    token: "${adminToken}"`,
        '    role: admin',
        '  - name: guard',
        `    token: "${o.viewerToken}"`,
        '    role: viewer',
        `    cameras: [${o.viewerCameras.map((x) => `"${x}"`).join(', ')}]`,
        'cameras:',
        '  cam1:',
        '    name: Yard gate',
        `    url: ${b.url('/cam1')}`,
        `    sub: ${a.url('/cam1sub')}`,
        '    transport: tcp',
        '    tags: [yard]',
        '  cam2:',
        '    name: Lobby',
        `    url: ${a.url('/cam2')}`,
        '    transport: tcp',
        '    tags: [lobby]',
        '  cam3:',
        '    name: Loading dock',
        `    url: ${a.url('/cam3')}`,
        '    transport: tcp',
        '  cam4:',
        '    name: Back door',
        `    url: ${c.url('/cam4')}`,
        '    transport: tcp',
        '  demo:',
        '    name: Demo',
        '    url: builtin:demo',
        '',
      ].join('\n'),
    );
    try {
      await waitStreaming(serve.base, `Bearer ${adminToken}`, ['cam1', 'cam2', 'cam3', 'cam4', 'demo']);
    } catch (e) {
      await serve.stop();
      throw e;
    }
    return {
      base: serve.base,
      adminToken,
      cam4: c,
      serve,
      stop: async () => {
        await serve.stop();
        await stopAll();
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
