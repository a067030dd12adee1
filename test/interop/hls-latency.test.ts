/**
 * Glass-to-glass through LL-HLS, measured with a clock burned into the picture: a GStreamer camera
 * paints each frame's capture time (Unix ms) as black/white blocks (gst-rtsp-camera.py --stamp),
 * camgate carries it (RTSP → hub → fMP4 parts) and hls.js in headless Chromium plays it with the
 * wall's settings (src/web/public/hls-live.js: HLS_LIVE_CONFIG + keepLive). The page reads the
 * blocks back from a canvas on every presented frame. Checks the measuring chain itself (stamps
 * decode from real H.264, display comes after capture) and that keepLive brings playback to hls.js's
 * target latency (PART-HOLD-BACK) although hls.js starts at the last independent part, up to one
 * 2 s GOP further back. The real figures are in `npm run bench:hls`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import pino from 'pino';
import { Gateway } from '../../src/gateway.ts';
import { buildHttpServer } from '../../src/http/server.ts';
import { parseConfig } from '../../src/config/load.ts';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera, type GstCamera } from '../helpers/gst-camera.ts';
import { launchChromium } from '../helpers/browser.ts';
import { STAMP_PAGE_JS } from '../helpers/stamp.ts';

const log = pino({ level: 'silent' });
const HLS_JS = readFileSync(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'), 'utf8');

haveTools('gst-rtsp-server', 'chromium');

let cam: GstCamera;
let gw: Gateway;
let app: Awaited<ReturnType<typeof buildHttpServer>>;
let base: string;

beforeAll(async () => {
  // 2 s GOP, so hls.js's start (last independent part) is well behind PART-HOLD-BACK
  cam = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h264+aac' }], width: 320, height: 240, fps: 15, gop: 30, stamp: true });
  const r = parseConfig(`cameras:\n  cam:\n    url: ${cam.url('/cam')}\n    transport: tcp\n`, 'hls-latency.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r));
  gw = new Gateway(r.config, log);
  gw.start();
  app = await buildHttpServer({ gateway: gw, logger: log });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  for (let i = 0; i < 400 && !((gw.status('cam')?.quality.keyframeIntervalMs ?? 0) > 0); i++) await new Promise((res) => setTimeout(res, 50));
  expect(gw.status('cam')!.state).toBe('streaming');
}, 60_000);

afterAll(async () => {
  await app?.close();
  await gw?.stop();
  await cam?.stop();
});

it('burned-in clock: stamps decode from every frame, display follows capture, keepLive reaches PART-HOLD-BACK', { timeout: 90_000 }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.route(`${base}/latency.html`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><video id="v" muted autoplay playsinline></video><script>${HLS_JS}</script><script>${STAMP_PAGE_JS}</script>
<script type="module">
import { HLS_LIVE_CONFIG, keepLive } from '/wall/hls-live.js';
const v = document.getElementById('v');
const s = window.s = { t0: performance.now(), g2g: [], lat: [], target: 0, fatal: [], stalls: 0 };
const hls = new Hls({ ...HLS_LIVE_CONFIG });
keepLive(hls, v);
hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) s.fatal.push(d.details); if (d.details === 'bufferStalledError') s.stalls++; });
watchStamps(v, (st) => s.g2g.push({ t: performance.now() - s.t0, v: st.g2g }));
setInterval(() => { if (hls.targetLatency) { s.lat.push({ t: performance.now() - s.t0, v: hls.latency }); s.target = hls.targetLatency; } }, 250);
hls.loadSource('/hls/cam/index.m3u8'); hls.attachMedia(v);
</script>`,
      }),
    );
    await page.goto(`${base}/latency.html`);
    await page.waitForFunction('window.s && window.s.g2g.length > 0', null, { timeout: 20_000 });
    await page.waitForTimeout(14_000);
    const r = (await page.evaluate(
      `({ ...window.s, errors: window.stampErrors, now: performance.now() - window.s.t0, decoded: document.getElementById('v').getVideoPlaybackQuality().totalVideoFrames })`,
    )) as {
      stalls: number;
      decoded: number;
      g2g: { t: number; v: number }[];
      lat: { t: number; v: number }[];
      target: number;
      errors: number;
      now: number;
      fatal: string[];
    };
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const g2g = sorted(r.g2g.map((x) => x.v));
    const tail = sorted(r.g2g.filter((x) => x.t > r.now - 5000).map((x) => x.v));
    const latTail = sorted(r.lat.filter((x) => x.t > r.now - 5000).map((x) => x.v));
    const p50 = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
    console.log(
      `burned-in clock: ${g2g.length} stamped frames (${r.errors} unreadable); glass-to-glass first ${r.g2g[0]!.v.toFixed(0)} ms, ` +
        `last 5 s p50 ${p50(tail).toFixed(0)} ms (min ${tail[0]!.toFixed(0)}, max ${tail[tail.length - 1]!.toFixed(0)}); ` +
        `hls.latency last 5 s p50 ${p50(latTail).toFixed(3)} s, target (PART-HOLD-BACK) ${r.target.toFixed(3)} s; ` +
        `${r.decoded} frames decoded, ${r.stalls} stalls, load average ${loadavg()[0]!.toFixed(2)}`,
    );
    // frames presented per second of the page, with the last glass-to-glass of each second: shows a
    // start-up freeze (hls.js re-loading the first segment's parts, fixed in src/hls/routes.ts)
    const perSecond: string[] = [];
    for (let sec = 0; sec * 1000 < r.now; sec++) {
      const xs = r.g2g.filter((x) => x.t >= sec * 1000 && x.t < sec * 1000 + 1000);
      perSecond.push(`${xs.length}${xs.length ? `/${Math.round(xs[xs.length - 1]!.v)}` : ''}`);
    }
    console.log(`frames/last g2g per second: ${perSecond.join(' ')}`);
    expect(r.fatal).toEqual([]);
    // ~14 s at 15 fps = 210 frames; a loaded 2-core CI box (camera encoder, Chromium's software
    // decoder and other suites on the same cores) presents fewer, but most must come through
    expect(g2g.length).toBeGreaterThanOrEqual(100);
    // no freeze once playing: hls.js used to re-load the parts of a lone first segment for 2–6 s
    let maxGap = 0;
    for (let i = 1; i < r.g2g.length; i++) maxGap = Math.max(maxGap, r.g2g[i]!.t - r.g2g[i - 1]!.t);
    expect(maxGap).toBeLessThan(1500);
    // the blocks survive H.264: nearly every frame decodes with a valid checksum
    expect(r.errors).toBeLessThanOrEqual(g2g.length * 0.05);
    // causality: a frame is displayed after it was captured, and not absurdly later (clock sanity)
    expect(g2g[0]!).toBeGreaterThan(0);
    expect(p50(g2g)).toBeLessThan(5000);
    // keepLive: playback settles at hls.js's target latency (within half a second), not up to a
    // GOP behind it where hls.js alone stays; the target includes hls.js's own stall allowance
    expect(r.target).toBeGreaterThanOrEqual(0.6 - 1e-6);
    expect(p50(latTail) - r.target).toBeLessThan(0.5);
    // glass-to-glass is more than the live-edge latency (encoder, RTSP, part assembly come on top)
    expect(p50(tail) / 1000).toBeGreaterThan(p50(latTail));
  } finally {
    await browser.close();
  }
});
