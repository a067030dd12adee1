/**
 * npm run bench:hls
 *
 * LL-HLS with camgate defaults (200 ms parts, 1 s minimum segments, 7 segments) on the built-in demo
 * camera (H.264 640x360 25 fps, 2 s GOP, AAC):
 * 1. hls.js (lowLatencyMode) in headless Chromium, 5 fresh page loads: time to first frame, and
 *    latency twice: hls.js's own `hls.latency` (distance to the playlist's live edge) and
 *    "capture → display" = Date.now() − hls.playingDate, where playingDate comes from
 *    EXT-X-PROGRAM-DATE-TIME (the camera's wall clock for each frame; for the demo camera, the time
 *    the frame was generated). Same machine, same clock.
 * 2. 100 concurrent HTTP clients each doing LL-HLS blocking playlist reloads + part downloads for
 *    20 s: camgate's CPU (process.cpuUsage) and RSS while they run.
 * Prints p50/p95.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { chromium } from 'playwright-core';
import { Gateway } from '../src/gateway.ts';
import { buildHttpServer } from '../src/http/server.ts';
import { parseConfig } from '../src/config/load.ts';

const require = createRequire(import.meta.url);
const HLS_JS = readFileSync(require.resolve('hls.js/dist/hls.min.js'), 'utf8');
const log = pino({ level: 'silent' });

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

const r = parseConfig('cameras:\n  demo:\n    url: builtin:demo\n', 'bench.yaml');
if (!r.ok) throw new Error('config');
const gw = new Gateway(r.config, log);
gw.start();
const app = await buildHttpServer({ gateway: gw, logger: log });
await app.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
await new Promise((res) => setTimeout(res, 5000)); // a camera that has been up for a while

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required'],
});
const firstFrame: number[] = [];
const latency: number[] = [];
const g2g: number[] = [];
const RUNS = 5;
for (let run = 0; run < RUNS; run++) {
  const page = await browser.newPage();
  await page.route(`${base}/player.html`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><video id="v" muted autoplay playsinline></video><script>${HLS_JS}</script><script>
window.s = { t0: performance.now(), first: 0, lat: [], g2g: [] };
const v = document.getElementById('v');
const hls = new Hls({ lowLatencyMode: true });
v.requestVideoFrameCallback && v.requestVideoFrameCallback(() => { s.first = performance.now() - s.t0; });
setInterval(() => { if (!s.first) return; s.lat.push(hls.latency); if (hls.playingDate) s.g2g.push(Date.now() - hls.playingDate.getTime()); }, 250);
hls.loadSource('/hls/demo/index.m3u8'); hls.attachMedia(v);
</script>`,
    }),
  );
  await page.goto(`${base}/player.html`);
  await page.waitForTimeout(15_000);
  const s = (await page.evaluate('window.s')) as { first: number; lat: number[]; g2g: number[] };
  firstFrame.push(s.first);
  // skip the first 5 s of each run (start-up), keep the steady state
  latency.push(...s.lat.slice(20).map((x) => x * 1000));
  g2g.push(...s.g2g.slice(20));
  await page.close();
}
await browser.close();
console.log(`hls.js lowLatencyMode, ${RUNS} runs × 15 s, demo camera 640x360 25 fps, 2 s GOP`);
console.log(`  time to first frame   p50 ${pct(firstFrame, 50).toFixed(0)} ms  p95 ${pct(firstFrame, 95).toFixed(0)} ms`);
console.log(`  hls.latency           p50 ${pct(latency, 50).toFixed(0)} ms  p95 ${pct(latency, 95).toFixed(0)} ms`);
console.log(`  capture → display     p50 ${pct(g2g, 50).toFixed(0)} ms  p95 ${pct(g2g, 95).toFixed(0)} ms  (Date.now() − hls.playingDate)`);

// 2. 100 LL-HLS clients: blocking playlist reload for the next part, then the part.
const CLIENTS = 100;
const DURATION_MS = 20_000;
let requests = 0;
let errors = 0;
let stop = false;
async function client(): Promise<void> {
  const mv = await (await fetch(`${base}/hls/demo/index.m3u8`, { headers: { 'user-agent': `bench-${Math.random()}` } })).text();
  const uri = /^(stream\.m3u8[^\n]*)$/m.exec(mv)![1]!;
  let text = await (await fetch(`${base}/hls/demo/${uri}`)).text();
  while (!stop) {
    const parts = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]!);
    const segs = [...text.matchAll(/^#EXT-X-MEDIA-SEQUENCE:(\d+)/gm)];
    const lastPart = parts[parts.length - 1]!;
    const ms = Number(segs[0]![1]);
    const nseg = (text.match(/#EXTINF/g) ?? []).length;
    const tail = text.slice(text.lastIndexOf('#EXTINF'));
    const openParts = (tail.match(/#EXT-X-PART:/g) ?? []).length;
    const res = await fetch(`${base}/hls/demo/${lastPart}`);
    requests++;
    if (!res.ok) errors++;
    await res.arrayBuffer();
    const next = await fetch(`${base}/hls/demo/${uri}&_HLS_msn=${ms + nseg}&_HLS_part=${openParts}`);
    requests++;
    if (!next.ok) errors++;
    text = await next.text();
  }
}
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
console.log(`${CLIENTS} LL-HLS clients (blocking reload + part download) for ${DURATION_MS / 1000} s, clients in the same process:`);
console.log(`  ${requests} requests (${(requests / (wall / 1000)).toFixed(0)}/s), ${errors} errors`);
console.log(`  CPU ${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(0)} % of one core (server + the 100 fetch clients)`);
console.log(`  RSS p50 ${pct(rss, 50).toFixed(0)} MiB, max ${Math.max(...rss).toFixed(0)} MiB`);
await app.close();
await gw.stop();
process.exit(0);
