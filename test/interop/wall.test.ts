/**
 * The camera wall in headless Chromium against `camgate serve` with four GStreamer cameras (one with
 * a sub-stream) and the demo: every tile decodes video over WebRTC, a camera that stops shows
 * 'retrying' and comes back live, LL-HLS takes over when WHEP is refused, a viewer sees only its
 * cameras, layouts/order are remembered, fullscreen plays the main stream. Screenshots go to
 * test-output/.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { haveTools } from '../helpers/tools.ts';
import { launchChromium } from '../helpers/browser.ts';
import { startWallRig, type WallRig, tiles, waitTiles, gridColumns, fullView, OUT_DIR } from './wall-rig.ts';

const ADMIN = { user: 'admin', password: 'wall-Admin-pw' };

describe.skipIf(!haveTools('gst-rtsp-server', 'chromium'))('camera wall in Chromium', () => {
  let rig: WallRig;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  /** A fresh browser profile (own localStorage), allowed to enumerate loopback for WebRTC. */
  async function newPage(viewport = { width: 1920, height: 1080 }): Promise<Page> {
    const ctx = await browser.newContext({ viewport, permissions: ['camera', 'microphone'] });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error(`[wall pageerror] ${e.message}`));
    return page;
  }

  beforeAll(async () => {
    mkdirSync(OUT_DIR, { recursive: true });
    rig = await startWallRig({ admin: ADMIN, viewerToken: 'guard-token-123', viewerCameras: ['cam2', 'demo'] });
    browser = await launchChromium({ webrtc: true });
  }, 90_000);

  // Leave each test's pages (so the wall DELETEs its WHEP sessions) before the next test starts.
  afterEach(async () => {
    for (const c of contexts.splice(0)) {
      for (const p of c.pages()) await p.goto('about:blank').catch(() => undefined);
      await c.close().catch(() => undefined);
    }
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await rig?.stop();
  });

  it('asks for credentials, then plays every camera live over WebRTC (4 GStreamer + demo)', async () => {
    const page = await newPage();
    await page.goto(rig.base);
    const dialog = page.locator('#signin');
    await expect.poll(() => dialog.isVisible()).toBe(true);
    expect(await page.locator('.tile').count()).toBe(0);
    // A wrong password is refused in the form, without the browser's own Basic dialog.
    await page.fill('#signin-user', ADMIN.user);
    await page.fill('#signin-password', 'not-it');
    await page.click('#signin-submit');
    await expect.poll(() => page.textContent('#signin-error')).toMatch(/wrong user or password/i);
    await page.fill('#signin-password', ADMIN.password);
    await page.click('#signin-submit');
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(await page.textContent('#who-name')).toBe('admin');

    const all = await waitTiles(page, 5, (t) => t.state === 'live' && t.frames >= 15, 45_000);
    expect(all.map((t) => t.camera).sort()).toEqual(['cam1', 'cam2', 'cam3', 'cam4', 'demo']);
    for (const t of all) {
      expect(t.protocol, `${t.camera} protocol`).toBe('webrtc');
      expect(t.rate, `${t.camera} bitrate shown`).toMatch(/bit\/s$/);
    }
    // The five tiles started together: one bundled WebRTC connection carries them all, and the
    // gateway lists one viewer per tile (session id `<id>-<m-section>`).
    expect(await page.evaluate(() => (window as unknown as { camgateWall: { bundler: { opened: number } } }).camgateWall.bundler.opened)).toBe(1);
    const viewers = (await (await fetch(`${rig.base}/api/sessions?token=${rig.adminToken}`)).json()) as { id: string; protocol: string; stream: string }[];
    const rtc = viewers.filter((v) => v.protocol === 'webrtc');
    expect(rtc.map((v) => v.stream).sort()).toEqual(['cam1/sub', 'cam2', 'cam3', 'cam4', 'demo']);
    expect(new Set(rtc.map((v) => v.id.replace(/-\d+$/, ''))).size).toBe(1);
    // cam1 has a sub-stream: the tile plays it, the others play their main stream.
    const by = Object.fromEntries(all.map((t) => [t.camera, t]));
    expect(by.cam1!.stream).toBe('cam1/sub');
    expect(by.cam2!.stream).toBe('cam2');
    // Decoded resolutions: the GStreamer cameras' 320x240 (cam1/sub is 320x240 as well), the demo's 640x360.
    expect(by.cam2!.videoWidth).toBe(320);
    expect(by.cam2!.videoHeight).toBe(240);
    expect(by.demo!.videoWidth).toBe(640);
    expect(by.demo!.videoHeight).toBe(360);
    // auto layout at 1080p: five cameras in 3 × 2 cells.
    expect(await gridColumns(page)).toBe(3);
    expect(await page.textContent('#summary')).toMatch(/5 cameras · 5 live/);
    await page.screenshot({ path: path.join(OUT_DIR, 'wall-1080p.png') });
    for (const t of all) console.log(`[wall] ${t.camera}: first frame ${t.ttffPlayer} ms after the tile started (${t.ttff} ms after navigation), ${t.frames} frames`);

    // A stopped camera shows 'retrying' with its error, then comes back live by itself.
    await rig.cam4.stop();
    const down = await waitTiles(page, 5, (t) => t.camera !== 'cam4' || t.state === 'retrying', 30_000);
    const cam4 = down.find((t) => t.camera === 'cam4')!;
    expect(cam4.error.length).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(OUT_DIR, 'wall-retrying.png') });
    await rig.cam4.start();
    const back = await waitTiles(page, 5, (t) => t.camera !== 'cam4' || (t.state === 'live' && t.frames > cam4.frames + 10), 45_000);
    expect(back.find((t) => t.camera === 'cam4')!.protocol).toBe('webrtc');
  }, 150_000);

  it('falls back to LL-HLS when WHEP is refused', async () => {
    const page = await newPage();
    let refused = 0;
    // Both WHEP endpoints: the bundled session (POST /whep?streams=…) and each tile's own (POST /whep/<stream>).
    await page.route(/\/whep([/?]|$)/, (route) => {
      refused++;
      return route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"unavailable","message":"WebRTC off for this test"}' });
    });
    // Hold the first HLS playlist of each tile for 2.5 s, so every tile is still without a picture
    // when its poster is due (1 s) and the snapshot poster is observable whatever the load.
    const held = new Set<string>();
    await page.route('**/hls/**/index.m3u8*', async (route) => {
      const key = route.request().url().split('?')[0]!;
      if (!held.has(key)) {
        held.add(key);
        await new Promise((r) => setTimeout(r, 2500));
      }
      await route.continue();
    });
    await page.goto(`${rig.base}/?token=${rig.adminToken}`);
    const all = await waitTiles(page, 5, (t) => t.state === 'live' && t.frames >= 15, 60_000);
    for (const t of all) expect(t.protocol, `${t.camera} protocol`).toBe('hls');
    for (const t of all) console.log(`[wall LL-HLS] ${t.camera}: first frame ${t.ttffPlayer} ms after the tile started, ${t.frames} frames`);
    expect(refused).toBeGreaterThanOrEqual(5);
    // No tile had a picture within 1 s (playlists held above), so every tile shows its snapshot poster.
    for (const t of all) expect(t.poster, `${t.camera} poster`).toMatch(/^blob:/);
    const snaps = (await page.evaluate(`performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.endsWith('snapshot.jpg'))`)) as string[];
    expect(snaps.some((n) => n.endsWith('/api/cameras/cam1/sub/snapshot.jpg'))).toBe(true);
    const demo = all.find((t) => t.camera === 'demo')!;
    expect(demo.videoWidth).toBe(640);
    // hls.js came from this server, not a CDN.
    expect(await page.evaluate(() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/vendor/hls.min.mjs')))).toBe(true);
    await page.screenshot({ path: path.join(OUT_DIR, 'wall-hls.png') });
  }, 90_000);

  it('a tile the shared connection does not carry plays on a WHEP session of its own', async () => {
    const page = await newPage();
    // The gateway's answer stands; only its list is changed to say cam3 was refused (as for a
    // camera that is not streaming yet): the page must not wait on the inactive section.
    let bundles = 0;
    await page.route(/\/whep\?streams=/, async (route) => {
      bundles++;
      const res = await route.fetch();
      const members = JSON.parse(res.headers()['camgate-bundle'] ?? '[]') as { stream: string; refused?: string }[];
      for (const m of members) if (m.stream === 'cam3') m.refused = 'test: refused';
      await route.fulfill({ response: res, headers: { ...res.headers(), 'camgate-bundle': JSON.stringify(members) } });
    });
    await page.goto(`${rig.base}/?token=${rig.adminToken}`);
    const all = await waitTiles(page, 5, (t) => t.state === 'live' && t.frames >= 10, 45_000);
    expect(bundles).toBe(1);
    for (const t of all) expect(t.protocol, `${t.camera} protocol`).toBe('webrtc');
    const bundled = (await page.evaluate('Object.fromEntries([...window.camgateWall.wall.tiles.values()].map((t) => [t.id, !!t.player.session?.bundled]))')) as Record<string, boolean>;
    expect(bundled).toEqual({ cam1: true, cam2: true, cam3: false, cam4: true, demo: true });
  }, 90_000);

  it('shows a viewer only the cameras it may see, and refuses a bad token', async () => {
    const page = await newPage();
    await page.goto(`${rig.base}/?token=guard-token-123`);
    const shown = await waitTiles(page, 2, (t) => t.state === 'live', 45_000);
    expect(shown.map((t) => t.camera).sort()).toEqual(['cam2', 'demo']);
    expect(await page.textContent('#who-name')).toBe('guard');
    // The list is filtered on the server, not hidden in the browser, and carries no source URL.
    const listed = await fetch(`${rig.base}/wall/cameras`, { headers: { Authorization: 'Bearer guard-token-123' } });
    const body = await listed.text();
    expect((JSON.parse(body) as { id: string }[]).map((c) => c.id).sort()).toEqual(['cam2', 'demo']);
    expect(body).not.toContain('rtsp://');
    expect((await fetch(`${rig.base}/wall/cameras`)).status).toBe(401);
    // And what it may not see is refused: the stream and the snapshot of cam1.
    const auth = { Authorization: 'Bearer guard-token-123' };
    const whep = await fetch(`${rig.base}/whep/cam1/sub`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });
    expect(whep.status).toBe(403);
    expect((await fetch(`${rig.base}/api/cameras/cam1/snapshot.jpg`, { headers: auth })).status).toBe(403);

    const bad = await newPage();
    await bad.goto(`${rig.base}/?token=not-a-token`);
    await expect.poll(() => bad.locator('#signin').isVisible()).toBe(true);
    expect(await bad.textContent('#signin-error')).toMatch(/token/i);
    expect(await bad.locator('.tile').count()).toBe(0);
  }, 90_000);

  it('remembers layout and drag order, pages fixed layouts, plays the main stream fullscreen', async () => {
    const since = Date.now() - 1000; // sessions of this test (HLS sessions of the previous one may linger)
    const page = await newPage();
    const url = `${rig.base}/?token=${rig.adminToken}`;
    await page.goto(url);
    // Each step waits for 'live', so no WHEP request is in flight when a tile or the page goes away.
    const live = (t: { state: string }) => t.state === 'live';
    await waitTiles(page, 5, live, 30_000);

    // Layout 4: a 2 × 2 page of four, the fifth camera on page 2.
    await page.click('#layouts button[data-layout="4"]');
    await waitTiles(page, 4, live, 10_000);
    expect(await page.textContent('#page-no')).toBe('1 / 2');
    await page.click('#next');
    const page2 = await waitTiles(page, 1, live, 20_000);
    await page.click('#prev');
    await waitTiles(page, 4, live, 20_000);

    // Drag the first page's last tile onto its first tile.
    const before = (await tiles(page)).map((t) => t.camera);
    const src = page.locator(`.tile[data-camera="${before[3]}"]`);
    const dst = page.locator(`.tile[data-camera="${before[0]}"]`);
    const a = (await src.boundingBox())!;
    const b = (await dst.boundingBox())!;
    await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
    await page.mouse.down();
    await page.mouse.move(a.x + a.width / 2 - 30, a.y + a.height / 2 - 30, { steps: 3 });
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 8 });
    await page.mouse.up();
    const after = (await tiles(page)).map((t) => t.camera);
    expect(after).toEqual([before[3], before[0], before[1], before[2]]);
    expect(await page.locator('#full').isVisible()).toBe(false); // a drag is not a click

    // Reload: layout, order and page come back from this browser's storage.
    await page.reload();
    await waitTiles(page, 4, live, 20_000);
    expect((await tiles(page)).map((t) => t.camera)).toEqual(after);
    expect(await page.getAttribute('#layouts button[data-layout="4"]', 'aria-pressed')).toBe('true');
    expect(page2.length).toBe(1);

    // Tag filter: only cam1 is tagged yard.
    await page.selectOption('#tag', 'yard');
    const yard = await waitTiles(page, 1, () => true, 10_000);
    expect(yard[0]!.camera).toBe('cam1');
    await page.selectOption('#tag', '');

    // Click: the main stream of cam1 (not its sub) fills the screen, audio can be switched on, Esc goes back.
    await waitTiles(page, 4, live, 20_000);
    await page.click('.tile[data-camera="cam1"]');
    const full = page.locator('#full');
    await expect.poll(() => full.isVisible()).toBe(true);
    await expect.poll(() => fullView(page), { timeout: 30_000 }).toMatchObject({ camera: 'cam1', state: 'live' });
    const f = await fullView(page);
    expect(f.videoWidth).toBe(640); // cam1's main stream is 640x480, its sub 320x240
    expect(f.muted).toBe(true);
    expect(f.protocol).toBe('webrtc');
    // Sound on: cam1's audio is AAC, which WebRTC does not carry (no `audio: transcode`), so the
    // full view switches to LL-HLS and decodes the AAC.
    await page.click('#full-audio');
    await expect.poll(() => fullView(page), { timeout: 30_000 }).toMatchObject({ camera: 'cam1', state: 'live', protocol: 'hls', muted: false });
    await expect.poll(async () => (await fullView(page)).audioBytes, { timeout: 15_000 }).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(OUT_DIR, 'wall-fullscreen.png') });
    // The main stream's viewer (now LL-HLS) is registered with the gateway while it plays…
    const sessions = async () =>
      ((await (await fetch(`${rig.base}/api/sessions`, { headers: { Authorization: `Bearer ${rig.adminToken}` } })).json()) as { stream: string; protocol: string; startedAt: string }[])
        .filter((x) => Date.parse(x.startedAt) >= since)
        .map((x) => `${x.protocol} ${x.stream}`)
        .sort();
    const tileSessions = after.map((c) => `webrtc ${c === 'cam1' ? 'cam1/sub' : c}`).sort();
    await expect.poll(sessions, { timeout: 5000 }).toEqual(['hls cam1', ...tileSessions].sort());
    await page.keyboard.press('Escape');
    await expect.poll(() => full.isVisible()).toBe(false);
    // …and Esc ends it; the four tiles play on. (The full view's first, WebRTC, session was
    // DELETEd when it switched to LL-HLS; the HLS session ends when its requests stop.)
    await expect.poll(async () => (await sessions()).filter((x) => x.startsWith('webrtc')), { timeout: 3000 }).toEqual(tileSessions);
    // Leaving the page deletes the tiles' WebRTC sessions at once (WHEP DELETE, not a timeout).
    await page.goto('about:blank');
    await expect.poll(async () => (await sessions()).filter((x) => x.startsWith('webrtc')), { timeout: 3000 }).toEqual([]);
  }, 120_000);

  it('fits a phone screen: one scrolling column, nothing wider than the screen', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await page.goto(`${rig.base}/?token=${rig.adminToken}`);
    const all = await waitTiles(page, 5, (t) => t.state === 'live', 45_000);
    expect(all.length).toBe(5);
    expect(await gridColumns(page)).toBe(1);
    expect(Number(await page.evaluate('document.documentElement.scrollWidth'))).toBeLessThanOrEqual(390);
    const box = (await page.locator('.tile').first().boundingBox())!;
    expect(box.width).toBeGreaterThan(350);
    expect(Math.abs(box.height - (box.width * 9) / 16)).toBeLessThan(2);
    await page.screenshot({ path: path.join(OUT_DIR, 'wall-phone.png'), fullPage: true });
  }, 90_000);
});
