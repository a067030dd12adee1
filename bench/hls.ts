/**
 * npm run bench:hls
 *
 * LL-HLS with camgate defaults (200 ms parts, 1 s minimum segments, 7 segments) from a GStreamer
 * RTSP camera whose frames carry their capture wall clock as black/white blocks (H.264 640x360
 * 25 fps, 2 s GOP, + AAC; test/helpers/gst-rtsp-camera.py --stamp):
 * 1. hls.js in headless Chromium, fresh page loads per player configuration: the page draws every
 *    presented frame (requestVideoFrameCallback) to a canvas, decodes the stamp and compares it with
 *    the frame's display time on the same wall clock → glass-to-glass latency (camera → encoder →
 *    RTSP → camgate → LL-HLS → hls.js → MSE → screen). Also time to first frame (from loadSource)
 *    and hls.js's own `hls.latency` (distance to the playlist's live edge).
 * 2. 100 concurrent HTTP clients each doing LL-HLS blocking playlist reloads + part downloads for
 *    20 s: camgate's CPU (process.cpuUsage) and RSS while they run.
 *
 * Environment: BENCH_HLS_PLAYERS (comma list of the PLAYERS keys below; default all),
 * BENCH_HLS_RUNS (page loads per player, default 4), BENCH_HLS_SECONDS (per load, default 15),
 * BENCH_HLS_CLIENTS=0 skips part 2, BENCH_HLS_PART=100ms sets hls.partDuration (default 200 ms),
 * BENCH_HLS_DEBUG=1 logs the page's start-up and latency controller. Prints p50/p95; the load
 * average is printed first because the 2-core dev box is shared.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import pino from 'pino';
import { Gateway } from '../src/gateway.ts';
import { buildHttpServer } from '../src/http/server.ts';
import { parseConfig } from '../src/config/load.ts';
import { startGstCamera } from '../test/helpers/gst-camera.ts';
import { launchChromium } from '../test/helpers/browser.ts';
import { STAMP_PAGE_JS } from '../test/helpers/stamp.ts';

const require = createRequire(import.meta.url);
const HLS_JS = readFileSync(require.resolve('hls.js/dist/hls.min.js'), 'utf8');
const log = pino({ level: 'silent' });

/**
 * Player configurations compared. `wall` is what the camera wall uses (src/web/public/hls-live.js,
 * loaded by the page from camgate itself, so the bench measures exactly that code).
 */
const PLAYERS: Record<string, string> = {
  // hls.js's defaults with low-latency mode: target = PART-HOLD-BACK, no catch-up.
  default: `({ hls: new Hls({ lowLatencyMode: true }) })`,
  // The wall's configuration before this measurement: liveSyncDurationCount makes hls.js ignore
  // PART-HOLD-BACK and aim at 1 × TARGETDURATION.
  oldwall: `({ hls: new Hls({ lowLatencyMode: true, liveSyncDurationCount: 1, maxLiveSyncPlaybackRate: 1.5, backBufferLength: 4, maxBufferLength: 4 }) })`,
  // hls.js's own catch-up only: it speeds up only while more than 1 s is buffered ahead.
  rate: `({ hls: new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 }) })`,
  wall: `(() => { const hls = new Hls({ ...liveHls.HLS_LIVE_CONFIG }); liveHls.keepLive(hls, v); return { hls }; })()`,
};

const RUNS = Number(process.env.BENCH_HLS_RUNS ?? 4);
const SECONDS = Number(process.env.BENCH_HLS_SECONDS ?? 15);
const SKIP_S = 5; // start-up excluded from the steady-state figures
const WHICH = (process.env.BENCH_HLS_PLAYERS ?? Object.keys(PLAYERS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–').padStart(5);

console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (${os.cpus().length} CPUs)`);

const cam = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h264+aac' }], width: 640, height: 360, fps: 25, gop: 50, stamp: true });
const PART = process.env.BENCH_HLS_PART; // e.g. "100ms": a non-default part duration, for comparison
const r = parseConfig(`${PART ? `hls:\n  partDuration: ${PART}\n` : ''}cameras:\n  cam:\n    url: ${cam.url('/cam')}\n    transport: tcp\n`, 'bench.yaml');
if (!r.ok) throw new Error('config');
const gw = new Gateway(r.config, log);
gw.start();
const app = await buildHttpServer({ gateway: gw, logger: log });
await app.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
// a camera that has been up for a while, its keyframe interval measured
for (let i = 0; i < 200 && !((gw.status('cam')?.quality.keyframeIntervalMs ?? 0) > 0); i++) await new Promise((res) => setTimeout(res, 100));
await new Promise((res) => setTimeout(res, 3000));
if (gw.status('cam')?.state !== 'streaming') throw new Error(`camera not streaming: ${JSON.stringify(gw.status('cam'))}`);

interface RunResult {
  first: number;
  firstG2g: number;
  g2g: { t: number; v: number }[];
  lat: { t: number; v: number }[];
  errors: number;
  stalls: number;
  frames: number;
}

const browser = await launchChromium();
const results = new Map<string, { first: number[]; firstG2g: number[]; g2g: number[]; lat: number[]; errors: number; stalls: number; frames: number; tail: number[] }>();
// 'cold': the very first viewer, whose request starts the HLS muxer (filled from the GOP cache);
// every later load finds it running (it stops 30 s after its last viewer), like a wall whose other
// tiles already watch the camera.
const plan: [label: string, player: string, runs: number][] = [['cold', 'wall', 1], ...WHICH.map((k): [string, string, number] => [k, k, RUNS])];
for (const [key, player, runs] of plan) {
  const make = PLAYERS[player];
  if (!make) throw new Error(`unknown player ${player}; one of ${Object.keys(PLAYERS).join(', ')}`);
  const acc = { first: [] as number[], firstG2g: [] as number[], g2g: [] as number[], lat: [] as number[], errors: 0, stalls: 0, frames: 0, tail: [] as number[] };
  results.set(key, acc);
  for (let run = 0; run < runs; run++) {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
    if (process.env.BENCH_HLS_DEBUG) {
      const t0 = performance.now();
      page.on('console', (m) => console.log(`  page: ${m.text()}`));
      page.on('requestfinished', (req) => {
        if (performance.now() - t0 < 6000 && req.url().includes('/hls/')) console.log(`  request ${Math.round(performance.now() - t0)} ms (took ${Math.round(req.timing().responseEnd)} ms): ${req.url().replace(base, '').replace(/session=[0-9a-f]+&?/, '')}`);
      });
    }
    await page.route(`${base}/bench-player.html`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><video id="v" muted autoplay playsinline></video><script>${HLS_JS}</script><script>${STAMP_PAGE_JS}</script>
<script type="module">
import * as liveHls from '/wall/hls-live.js';
const v = document.getElementById('v');
const s = window.s = { t0: 0, first: 0, firstG2g: NaN, g2g: [], lat: [], stalls: 0, errors: 0 };
const { hls } = ${make};
hls.on(Hls.Events.ERROR, (_e, d) => { console.log('hls error ' + d.details + ' ' + (d.response && d.response.code)); if (d.details === 'bufferStalledError') s.stalls++; if (d.fatal) s.errors++; });
watchStamps(v, (st) => {
  const t = performance.now() - s.t0;
  if (!s.first) { s.first = t; s.firstG2g = st.g2g; }
  s.g2g.push({ t: t - s.first, v: st.g2g });
});
if (${!!process.env.BENCH_HLS_DEBUG}) for (const ev of ['MANIFEST_LOADED', 'LEVEL_LOADED', 'FRAG_LOADING', 'FRAG_LOADED', 'FRAG_BUFFERED']) hls.on(Hls.Events[ev], (_e, d) => { if (performance.now() - s.t0 < 3000 || !s.first) console.log(Math.round(performance.now() - s.t0) + ' ' + ev + ' ' + (d.part ? 'part ' + d.part.index + (d.part.independent ? ' indep' : '') + ' of ' + d.frag.sn : d.frag ? 'frag ' + d.frag.sn : '')); });
if (${!!process.env.BENCH_HLS_DEBUG}) setInterval(() => { const b = v.buffered; console.log(JSON.stringify({ t: Math.round(performance.now() - s.t0), target: hls.targetLatency, lat: +hls.latency.toFixed(3), ahead: b.length ? +(b.end(b.length - 1) - v.currentTime).toFixed(3) : null, rate: v.playbackRate, rs: v.readyState, g2g: s.g2g.length ? Math.round(s.g2g[s.g2g.length - 1].v) : null })); }, 500);
setInterval(() => { if (s.first) s.lat.push({ t: performance.now() - s.t0 - s.first, v: hls.latency * 1000 }); }, 250);
s.t0 = performance.now();
hls.loadSource('/hls/cam/index.m3u8'); hls.attachMedia(v);
</script>`,
      }),
    );
    await page.goto(`${base}/bench-player.html`);
    await page.waitForTimeout(SECONDS * 1000);
    if (process.env.BENCH_HLS_DEBUG) {
      console.log(await page.evaluate(`(() => { const v = document.getElementById('v'); return JSON.stringify({ t: v.currentTime, rs: v.readyState, paused: v.paused, b: v.buffered.length ? [v.buffered.start(0), v.buffered.end(v.buffered.length - 1)] : [], w: v.videoWidth, s: window.s && { first: s.first, n: s.g2g.length } }); })()`));
    }
    const s = (await page.evaluate(`({ ...window.s, frames: document.getElementById('v').getVideoPlaybackQuality().totalVideoFrames, stampErrors: window.stampErrors })`)) as RunResult & { stampErrors: number };
    await page.close();
    acc.first.push(s.first || NaN);
    acc.firstG2g.push(s.firstG2g);
    acc.g2g.push(...s.g2g.filter((x) => x.t >= SKIP_S * 1000).map((x) => x.v));
    acc.tail.push(...s.g2g.filter((x) => x.t >= SECONDS * 1000 - 5000).map((x) => x.v));
    acc.lat.push(...s.lat.filter((x) => x.t >= SKIP_S * 1000).map((x) => x.v));
    acc.errors += s.errors + s.stampErrors;
    acc.stalls += s.stalls;
    acc.frames += s.frames;
    console.log(`  ${key} run ${run + 1}: first frame ${f0(s.first)} ms (g2g ${f0(s.firstG2g)} ms), steady g2g p50 ${f0(pct(s.g2g.filter((x) => x.t >= SKIP_S * 1000).map((x) => x.v), 50))} ms, ${s.frames} frames, ${s.stalls} stalls, ${s.stampErrors} unreadable stamps`);
  }
}
await browser.close();

console.log(`\nhls.partDuration ${PART ?? '200ms (default)'}; hls.js ${JSON.parse(readFileSync(require.resolve('hls.js/package.json'), 'utf8')).version}, ${RUNS} page loads × ${SECONDS} s per player, stamped GStreamer camera 640x360 25 fps, 2 s GOP + AAC`);
console.log(`steady state = from ${SKIP_S} s after the first frame; ms`);
console.log(`player    first frame p50/p95   g2g at first frame p50   g2g steady p50/p95   g2g last 5 s p50   hls.latency p50/p95   stalls`);
for (const [key, a] of results) {
  console.log(
    `${key.padEnd(8)}  ${f0(pct(a.first, 50))} /${f0(pct(a.first, 95))}          ${f0(pct(a.firstG2g, 50))}                ${f0(pct(a.g2g, 50))} /${f0(pct(a.g2g, 95))}          ${f0(pct(a.tail, 50))}          ${f0(pct(a.lat, 50))} /${f0(pct(a.lat, 95))}        ${a.stalls}`,
  );
}

// 2. 100 LL-HLS clients: blocking playlist reload for the next part, then the part.
if (process.env.BENCH_HLS_CLIENTS !== '0') {
  const CLIENTS = 100;
  const DURATION_MS = 20_000;
  let requests = 0;
  let errors = 0;
  let stop = false;
  const client = async (): Promise<void> => {
    const mv = await (await fetch(`${base}/hls/cam/index.m3u8`, { headers: { 'user-agent': `bench-${Math.random()}` } })).text();
    const uri = /^(stream\.m3u8[^\n]*)$/m.exec(mv)![1]!;
    let text = await (await fetch(`${base}/hls/cam/${uri}`)).text();
    while (!stop) {
      const parts = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]!);
      const segs = [...text.matchAll(/^#EXT-X-MEDIA-SEQUENCE:(\d+)/gm)];
      const lastPart = parts[parts.length - 1]!;
      const ms = Number(segs[0]![1]);
      const nseg = (text.match(/#EXTINF/g) ?? []).length;
      const tail = text.slice(text.lastIndexOf('#EXTINF'));
      const openParts = (tail.match(/#EXT-X-PART:/g) ?? []).length;
      const res = await fetch(`${base}/hls/cam/${lastPart}`);
      requests++;
      if (!res.ok) errors++;
      await res.arrayBuffer();
      const next = await fetch(`${base}/hls/cam/${uri}${uri.includes('?') ? '&' : '?'}_HLS_msn=${ms + nseg}&_HLS_part=${openParts}`);
      requests++;
      if (!next.ok) errors++;
      text = await next.text();
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss / 1024 / 1024), 500);
  const clients = Array.from({ length: CLIENTS }, () => client().catch(() => errors++));
  await new Promise((res) => setTimeout(res, DURATION_MS));
  stop = true;
  await Promise.all(clients);
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  console.log(`\n${CLIENTS} LL-HLS clients (blocking reload + part download) for ${DURATION_MS / 1000} s, clients in the same process:`);
  console.log(`  ${requests} requests (${(requests / (wall / 1000)).toFixed(0)}/s), ${errors} errors`);
  console.log(`  CPU ${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(0)} % of one core (server + the 100 fetch clients)`);
  console.log(`  RSS p50 ${pct(rss, 50).toFixed(0)} MiB, max ${Math.max(...rss).toFixed(0)} MiB`);
}
console.log(`load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
await app.close();
await gw.stop();
await cam.stop();
process.exit(0);
