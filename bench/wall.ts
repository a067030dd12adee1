/**
 * npm run bench:wall
 *
 * A 16-tile camera wall (15 GStreamer cameras at 320x240, 15 fps, 2 s GOP + the demo) in headless
 * Chromium at 1920x1080 against `camgate serve`. Prints the time to first frame of every tile
 * (p50/p95/max, from navigation start, i.e. what the operator waits for) for:
 *   - the first wall after the gateway started (WebRTC engines not yet running),
 *   - warm loads of the wall (reloads),
 *   - LL-HLS (WHEP refused by the page, so every tile falls back),
 * and the browser's and the gateway's CPU while the 16 tiles play.
 */
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import type { Page } from 'playwright-core';
import { launchChromium } from '../test/helpers/browser.ts';
import { startGstCamera, type GstCamera } from '../test/helpers/gst-camera.ts';
import { startServe, waitStreaming, tiles, type ServeProcess } from '../test/interop/wall-rig.ts';

const TILES = 16;
const WARM_RUNS = Number(process.env.WARM_RUNS ?? 4);
const CPU_WINDOW_S = Number(process.env.CPU_WINDOW_S ?? 15);
const CLK_TCK = 100;

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(label: string, values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  return `${label.padEnd(34)} n=${String(s.length).padStart(3)}  p50 ${String(Math.round(pct(s, 50))).padStart(5)} ms  p95 ${String(Math.round(pct(s, 95))).padStart(5)} ms  max ${String(Math.round(s[s.length - 1] ?? NaN)).padStart(5)} ms`;
}

/** utime+stime (clock ticks) of a process and all its threads. */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Chromium's processes: descendants of this process whose command line names chromium/chrome. */
function browserPids(): number[] {
  const parent = new Map<number, number>();
  const cmd = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(f[1]));
      cmd.set(Number(d), readFileSync(`/proc/${d}/cmdline`, 'utf8'));
    } catch {
      // exited
    }
  }
  const out: number[] = [];
  for (const [pid, c] of cmd) {
    if (!/chrom/i.test(c)) continue;
    for (let p = parent.get(pid); p; p = parent.get(p)) {
      if (p === process.pid) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

async function sampleCpu(serve: ServeProcess, seconds: number): Promise<{ browser: number; gateway: number }> {
  const pids = browserPids();
  const b0 = pids.reduce((s, p) => s + cpuTicks(p), 0);
  const g0 = cpuTicks(serve.child.pid!);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const dt = (performance.now() - t0) / 1000;
  const b1 = pids.reduce((s, p) => s + cpuTicks(p), 0);
  const g1 = cpuTicks(serve.child.pid!);
  return { browser: ((b1 - b0) / CLK_TCK / dt) * 100, gateway: ((g1 - g0) / CLK_TCK / dt) * 100 };
}

/** Loads the wall and waits until every tile showed its first frame; returns the tiles' TTFF. */
type Timeline = { connect?: number; offer?: number; answer?: number; connected?: number; frame?: number };

/** Where the time to first frame goes, per WebRTC step, over the tiles of one load. */
const newPhases = (): Record<string, number[]> => ({
  'gather ICE + send offer': [],
  'WHEP POST → 201': [],
  '  of it queued for a connection': [],
  'ICE + DTLS connected': [],
  'first frame decoded': [],
  'tiles on the shared connection': [],
});
const phases = newPhases();
async function collectPhases(page: Page, phases: Record<string, number[]>): Promise<void> {
  // 1 per tile on the wall's bundled connection, 0 per tile on a connection of its own (printed as a share).
  const bundled = (await page.evaluate('[...window.camgateWall.wall.tiles.values()].map((t) => (t.player.session?.bundled ? 1 : 0))')) as number[];
  phases['tiles on the shared connection']!.push(...bundled);
  const tls = (await page.evaluate('[...window.camgateWall.wall.tiles.values()].map((t) => t.player.timeline)')) as Timeline[];
  // Chromium opens at most 6 HTTP/1.1 connections per host: POSTs may wait their turn.
  const queued = (await page.evaluate(
    `performance.getEntriesByType('resource').filter((e) => /\\/whep(\\?|\\/[^s])/.test(e.name) && e.initiatorType === 'fetch' && e.requestStart > 0).map((e) => e.requestStart - e.startTime)`,
  )) as number[];
  phases['  of it queued for a connection']!.push(...queued);
  for (const t of tls) {
    if (t.connect === undefined || t.offer === undefined || t.answer === undefined || t.frame === undefined) continue;
    phases['gather ICE + send offer']!.push(t.offer - t.connect);
    phases['WHEP POST → 201']!.push(t.answer - t.offer);
    if (t.connected !== undefined) {
      phases['ICE + DTLS connected']!.push(t.connected - t.answer);
      phases['first frame decoded']!.push(t.frame - t.connected);
    }
  }
}

function printPhases(p: Record<string, number[]>): void {
  for (const [k, v] of Object.entries(p)) {
    if (k === 'tiles on the shared connection') console.log(`    ${k}: ${v.filter((x) => x === 1).length} of ${v.length}`);
    else console.log(summary(`    ${k}`, v));
  }
}

async function loadWall(page: Page, url: string): Promise<{ nav: number[]; player: number[]; protocols: string[] }> {
  await page.goto(url);
  const deadline = Date.now() + 40_000;
  for (;;) {
    const t = await tiles(page);
    if (t.length === TILES && t.every((x) => x.ttff !== '')) {
      return { nav: t.map((x) => Number(x.ttff)), player: t.map((x) => Number(x.ttffPlayer)), protocols: [...new Set(t.map((x) => x.protocol))] };
    }
    if (Date.now() > deadline) throw new Error(`not every tile started within 40 s: ${JSON.stringify(t.map((x) => [x.camera, x.state, x.protocol, x.ttff]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const cams: GstCamera[] = [];
  let serve: ServeProcess | undefined;
  const browser = await launchChromium({ webrtc: true });
  try {
    // Four encoders (shared RTSP media), 15 camera connections: the gateway pulls each separately.
    const gst = await startGstCamera({
      width: 320, height: 240, fps: 15, gop: 30,
      mounts: [0, 1, 2, 3].map((i) => ({ path: `/m${i}`, spec: 'h264' })),
    });
    cams.push(gst);
    const ids = Array.from({ length: TILES - 1 }, (_, i) => `cam${String(i + 1).padStart(2, '0')}`);
    serve = await startServe(({ http, rtsp, udp }) =>
      [
        'server:',
        `  http: "127.0.0.1:${http}"`,
        `  rtsp: "127.0.0.1:${rtsp}"`,
        '  webrtc:',
        `    udpPorts: "${udp.min}-${udp.max}"`,
        'cameras:',
        ...ids.flatMap((id, i) => [`  ${id}:`, `    url: ${gst.url(`/m${i % 4}`)}`, '    transport: tcp']),
        '  demo:',
        '    url: builtin:demo',
        '',
      ].join('\n'),
    );
    await waitStreaming(serve.base, '', [...ids, 'demo'], 60_000);
    // Let every camera's GOP cache fill once (a viewer starts at the cached keyframe).
    await new Promise((r) => setTimeout(r, 2500));

    const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 }, permissions: ['camera', 'microphone'] });
    const page = await ctx.newPage();
    const cold = await loadWall(page, serve.base);
    console.log(`machine: ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (other work on the machine slows every figure)`);
    console.log(`camera wall: ${TILES} tiles (15 × H.264 320x240 15 fps 2 s GOP + demo 640x360 25 fps 2 s GOP), Chromium 1920x1080, ${WARM_RUNS} warm loads`);
    console.log(`protocols: cold ${cold.protocols.join(',')}`);
    console.log(summary('TTFF first wall after start', cold.nav));
    console.log(summary('  (from each tile player start)', cold.player));
    const coldPhases = newPhases();
    await collectPhases(page, coldPhases);
    printPhases(coldPhases);

    const warmNav: number[] = [];
    const warmPlayer: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      await page.goto('about:blank');
      await new Promise((r) => setTimeout(r, 1500));
      const w = await loadWall(page, serve.base);
      await collectPhases(page, phases);
      if (w.protocols.join() !== 'webrtc') console.log(`warm run ${i}: protocols ${w.protocols.join(',')}`);
      warmNav.push(...w.nav);
      warmPlayer.push(...w.player);
    }
    console.log(summary('TTFF warm (WebRTC)', warmNav));
    console.log(summary('  (from each tile player start)', warmPlayer));
    printPhases(phases);

    await new Promise((r) => setTimeout(r, 3000));
    const cpu = await sampleCpu(serve, CPU_WINDOW_S);
    const all = await tiles(page);
    const live = all.filter((t) => t.state === 'live').length;
    console.log(`CPU while ${live}/${TILES} tiles play over WebRTC (${CPU_WINDOW_S} s): browser ${cpu.browser.toFixed(0)} % of a core, gateway ${cpu.gateway.toFixed(1)} % of a core (${(cpu.gateway / TILES).toFixed(2)} % per viewer stream)`);

    // LL-HLS: the same wall with WHEP refused, so every tile falls back.
    await page.goto('about:blank');
    // Both WHEP endpoints: the wall's bundled session (POST /whep?streams=…) and each tile's own.
    await page.route(/\/whep([/?]|$)/, (r) => r.fulfill({ status: 503, body: '{"error":"unavailable","message":"bench: WebRTC off"}', contentType: 'application/json' }));
    await new Promise((r) => setTimeout(r, 1500));
    const hls = await loadWall(page, serve.base);
    console.log(`protocols: ${hls.protocols.join(',')}`);
    console.log(summary('TTFF LL-HLS fallback', hls.nav));
    await new Promise((r) => setTimeout(r, 3000));
    const cpuHls = await sampleCpu(serve, CPU_WINDOW_S);
    console.log(`CPU while ${TILES} tiles play over LL-HLS (${CPU_WINDOW_S} s): browser ${cpuHls.browser.toFixed(0)} % of a core, gateway ${cpuHls.gateway.toFixed(1)} % of a core`);
    await ctx.close();
  } finally {
    await browser.close();
    await serve?.stop();
    await Promise.all(cams.map((c) => c.stop()));
  }
}

await main();
