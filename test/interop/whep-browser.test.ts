/**
 * Headless Chromium plays a GStreamer RTSP camera (H.264 + Opus, 320x240 @ 15 fps, 1 s GOP) through
 * camgate's WHEP: decoded video and audio, no freezes, ten viewers at once, trickle ICE, ICE restart,
 * DELETE. Real peers end to end: GStreamer → camgate RTSP client → hub → werift (worker threads) → Chromium.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera, type GstCamera } from '../helpers/gst-camera.ts';
import { launchChromium } from '../helpers/browser.ts';
import { startWhepServer, waitFor, installWhepClient, whepPlay, whepStats, type WhepServer, type InboundSample, type WhepStatsSample } from '../unit/webrtc/harness.ts';

let cam: GstCamera;
let srv: WhepServer;
let browser: Browser;
const ok = haveTools('gst-rtsp-server', 'chromium');
/** Observation window: 12 s = 12 GOPs of this camera; the freeze detector needs no more to see a stall. */
const WATCH_MS = 12_000;

beforeAll(async () => {
  if (!ok) return;
  cam = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h264+opus' }], width: 320, height: 240, fps: 15, gop: 15 });
  srv = await startWhepServer({ cameras: [{ id: 'cam', url: cam.url('/cam') }] });
  await waitFor(() => !!srv.gateway.hub.get('cam')?.lastKeyframe(), 20_000, 'camera keyframe');
  browser = await launchChromium({ webrtc: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await srv?.close();
  await cam?.stop();
});

async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${srv.base}/api/health`);
  await installWhepClient(page);
  return page;
}

const video = (s: { inbound: InboundSample[] }) => s.inbound.find((x) => x.kind === 'video');
const audio = (s: { inbound: InboundSample[] }) => s.inbound.find((x) => x.kind === 'audio');

describe.runIf(ok)('WHEP in Chromium', () => {
  it(`receives H.264 video and Opus audio, frames keep growing, no freezes over ${WATCH_MS / 1000} s`, async () => {
    const page = await newPage();
    const { index, answer } = await whepPlay(page, `${srv.base}/whep/cam`);
    expect(answer).toMatch(/a=rtpmap:\d+ opus\/48000\/2/);
    const samples: WhepStatsSample[] = [];
    const end = Date.now() + WATCH_MS;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(await whepStats(page, index));
    }
    const frames = samples.map((s) => video(s)?.framesDecoded ?? 0);
    const last = samples[samples.length - 1]!;
    const v = video(last)!;
    const a = audio(last)!;
    console.log(`chromium: first frame ${last.firstFrameMs?.toFixed(0)} ms after offer; frames ${frames.join(',')}; keyframes ${v.keyFramesDecoded}; freezes ${v.freezeCount}; audio samples ${a?.totalSamplesReceived}`);
    expect(v.codec).toBe('video/H264');
    // Our own SRTP sender (src/rtp/srtp.ts) protected every packet Chromium's libsrtp accepted here.
    expect(last.srtpCipher).toBe('SRTP_AES128_CM_HMAC_SHA1_80');
    expect(v.keyFramesDecoded).toBeGreaterThan(0);
    expect(v.frameWidth).toBe(320);
    expect(v.frameHeight).toBe(240);
    // Every second more frames (15 fps: ~15 per sample), none lost, no freezes.
    for (let i = 1; i < frames.length; i++) expect(frames[i]!).toBeGreaterThan(frames[i - 1]! + 5);
    expect(frames[frames.length - 1]!).toBeGreaterThan((WATCH_MS / 1000) * 15 * 0.8);
    expect(v.freezeCount ?? 0).toBe(0);
    expect(v.packetsLost ?? 0).toBe(0);
    expect(a.codec).toBe('audio/opus');
    expect(a.packetsReceived).toBeGreaterThan(WATCH_MS / 20 / 2);
    expect(a.totalSamplesReceived!).toBeGreaterThan(48000 * (WATCH_MS / 1000) * 0.5);
    expect(await page.evaluate(`window.whepDelete(${index})`)).toBe(200);
    await page.close();
  }, 60_000);

  it('ten viewers on one camera all decode; registry and camera status count them', async () => {
    // Start from no viewers even when an earlier test failed before its DELETE.
    for (const s of srv.gateway.sessions.list()) if (s.protocol === 'webrtc') s.kick();
    const page = await newPage();
    const idx: number[] = [];
    for (let i = 0; i < 10; i++) idx.push((await whepPlay(page, `${srv.base}/whep/cam`, { audio: i % 2 === 0 })).index);
    expect(srv.gateway.sessions.viewers('cam').webrtc).toBe(10);
    await new Promise((r) => setTimeout(r, 4000));
    const a = await Promise.all(idx.map((i) => whepStats(page, i)));
    await new Promise((r) => setTimeout(r, 3000));
    const b = await Promise.all(idx.map((i) => whepStats(page, i)));
    const status = (await (await fetch(`${srv.base}/api/cameras/cam`)).json()) as { viewers: { webrtc: number } };
    expect(status.viewers.webrtc).toBe(10);
    const counts = idx.map((_, k) => [video(a[k]!)?.framesDecoded ?? 0, video(b[k]!)?.framesDecoded ?? 0]);
    console.log(`ten viewers: frames ${counts.map((c) => c.join('→')).join(' ')}`);
    console.log(`ten viewers: freezes ${idx.map((_, k) => `${video(a[k]!)?.freezeCount ?? 0}→${video(b[k]!)?.freezeCount ?? 0}`).join(" ")}`);
    for (const [x, y] of counts) {
      expect(x!).toBeGreaterThan(30);
      expect(y!).toBeGreaterThan(x! + 15); // 3 s at 15 fps = 45: half of it even on a loaded machine
    }
    // No freezes while the ten play (between the two samples). A freeze while ten decoders start at
    // once on this 2-core machine is the browser's: it showed up as often with the gateway's earlier
    // WebRTC path (werift SRTP, all sessions on workers), and only when the machine was loaded.
    // The single-viewer test above checks for freezes from the first frame on.
    b.forEach((s, k) => expect((video(s)!.freezeCount ?? 0) - (video(a[k]!)!.freezeCount ?? 0)).toBe(0));
    // The viewers spread over the worker threads' fan-out: the session registry has each one, with bytes.
    const sessions = srv.gateway.sessions.list().filter((s) => s.protocol === 'webrtc');
    expect(sessions).toHaveLength(10);
    for (const s of sessions) s.kick();
    expect(srv.gateway.sessions.viewers('cam').webrtc).toBe(0);
    await page.close();
  }, 60_000);

  it('trickle PATCH, ICE restart and DELETE from the browser', async () => {
    const page = await newPage();
    const r = await whepPlay(page, `${srv.base}/whep/cam`, { trickle: true });
    expect(r.offer).not.toContain('a=candidate:');
    expect(r.trickled!).toBeGreaterThan(0);
    expect(r.trickleStatus).toBe(204);
    let s = await whepStats(page, r.index);
    const t0 = Date.now();
    while ((video(s)?.framesDecoded ?? 0) < 20 && Date.now() - t0 < 10_000) {
      await new Promise((res) => setTimeout(res, 250));
      s = await whepStats(page, r.index);
    }
    expect(video(s)!.framesDecoded!).toBeGreaterThanOrEqual(20);
    const restart = (await page.evaluate(`window.whepRestart(${r.index})`)) as { status: number; etag: string; oldUfrag: string; newUfrag: string };
    expect(restart.status).toBe(200);
    expect(restart.newUfrag).not.toBe(restart.oldUfrag);
    expect(restart.etag).not.toBe(r.etag);
    const before = video(await whepStats(page, r.index))!.framesDecoded!;
    // Video goes on after the restart: a second's worth of new frames. Polled, not a fixed window:
    // on a loaded machine the new connectivity checks have taken 1-2 s.
    const t1 = Date.now();
    let after = await whepStats(page, r.index);
    while ((video(after)?.framesDecoded ?? 0) <= before + 25 && Date.now() - t1 < 15_000) {
      await new Promise((res) => setTimeout(res, 250));
      after = await whepStats(page, r.index);
    }
    console.log(`ICE restart: frames ${before} → ${video(after)!.framesDecoded} in ${Date.now() - t1} ms, state ${after.state}`);
    expect(after.state).toBe('connected');
    expect(video(after)!.framesDecoded!).toBeGreaterThan(before + 25);
    const id = r.location.split('/').pop()!;
    expect(srv.gateway.sessions.get(id)).toBeDefined();
    expect(await page.evaluate(`window.whepDelete(${r.index})`)).toBe(200);
    expect(srv.gateway.sessions.get(id)).toBeUndefined();
    expect(await page.evaluate(`window.whepDelete(${r.index})`)).toBe(404);
    // The server stops sending: no more packets arrive after the DELETE.
    await new Promise((res) => setTimeout(res, 500));
    const p1 = video(await whepStats(page, r.index))!.packetsReceived;
    await new Promise((res) => setTimeout(res, 1500));
    expect(video(await whepStats(page, r.index))!.packetsReceived).toBe(p1);
    await page.close();
  }, 60_000);
});
