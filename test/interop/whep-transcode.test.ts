/**
 * `audio: transcode`: a GStreamer camera sending H.264 + AAC, played in headless Chromium through
 * camgate's WHEP. The AAC track alone goes through ffmpeg (libopus); Chromium must negotiate Opus and
 * decode audio samples while the video (passed through) keeps decoding. The same camera without
 * `audio: transcode` is video only, and its status says why.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Browser } from 'playwright-core';
import { haveTools } from '../helpers/tools.ts';
import { startGstCamera, type GstCamera } from '../helpers/gst-camera.ts';
import { launchChromium } from '../helpers/browser.ts';
import { startWhepServer, waitFor, installWhepClient, whepPlay, whepStats, type WhepServer, type InboundSample } from '../unit/webrtc/harness.ts';

let cam: GstCamera;
let srv: WhepServer;
let browser: Browser;
const ok = haveTools('gst-rtsp-server', 'chromium', 'ffmpeg');

beforeAll(async () => {
  if (!ok) return;
  cam = await startGstCamera({ mounts: [{ path: '/cam', spec: 'h264+aac' }], width: 320, height: 240, fps: 15, gop: 15 });
  srv = await startWhepServer({
    cameras: [
      { id: 'tc', url: cam.url('/cam'), audio: 'transcode' },
      { id: 'plain', url: cam.url('/cam'), audio: 'auto' },
    ],
  });
  await waitFor(() => !!srv.gateway.hub.get('tc')?.lastKeyframe() && !!srv.gateway.hub.get('plain')?.lastKeyframe(), 20_000, 'camera keyframes');
  browser = await launchChromium({ webrtc: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await srv?.close();
  await cam?.stop();
});

describe.runIf(ok)('WHEP audio: transcode (AAC → Opus)', () => {
  it('Chromium receives Opus audio samples and H.264 video from an AAC camera', async () => {
    const tracks = srv.gateway.hub.get('tc')!.tracks.map((t) => t.codec);
    expect(tracks).toContain('AAC');
    const page = await browser.newPage();
    await page.goto(`${srv.base}/api/health`);
    await installWhepClient(page);
    const { index, answer } = await whepPlay(page, `${srv.base}/whep/tc`);
    const audioSection = answer.slice(answer.indexOf('m=audio'));
    expect(audioSection).toMatch(/a=rtpmap:\d+ opus\/48000\/2/);
    expect(audioSection).toContain('a=sendonly');
    let last: { inbound: InboundSample[] } = { inbound: [] };
    const samples: number[] = [];
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 1000));
      last = await whepStats(page, index);
      const a = last.inbound.find((x) => x.kind === 'audio');
      samples.push(a?.totalSamplesReceived ?? 0);
      if (samples.length >= 4 && samples[samples.length - 1]! > samples[samples.length - 3]! && samples[samples.length - 1]! > 48_000) break;
    }
    const a = last.inbound.find((x) => x.kind === 'audio')!;
    const v = last.inbound.find((x) => x.kind === 'video')!;
    console.log(`transcode: audio ${a?.codec} samples ${samples.join(',')}; packets ${a?.packetsReceived}; video ${v?.codec} frames ${v?.framesDecoded}`);
    expect(a.codec).toBe('audio/opus');
    expect(a.packetsReceived).toBeGreaterThan(20);
    // Over 1 s of 48 kHz audio decoded, and still growing (not one burst).
    expect(samples[samples.length - 1]!).toBeGreaterThan(48_000);
    expect(samples[samples.length - 1]!).toBeGreaterThan(samples[samples.length - 3]!);
    expect(v.codec).toBe('video/H264');
    expect(v.framesDecoded ?? 0).toBeGreaterThan(10);
    // The viewer leaves: ffmpeg for that stream stops with the last transcoding session.
    expect(await page.evaluate(`window.whepDelete(${index})`)).toBe(200);
    await page.close();
  }, 60_000);

  it('without audio: transcode the same camera is video only, and the status says why', async () => {
    const r = await fetch(`${srv.base}/whep/plain`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: (await import('../unit/webrtc/offers.ts')).chromeOffer() });
    expect(r.status).toBe(201);
    const answer = await r.text();
    expect(answer.slice(answer.indexOf('m=audio'))).toContain('a=inactive');
    const status = (await (await fetch(`${srv.base}/api/cameras/plain`)).json()) as { notes?: string[] };
    expect((status.notes ?? []).join(' ')).toMatch(/video only/i);
    expect((await fetch(`${srv.base}${r.headers.get('location')}`, { method: 'DELETE' })).status).toBe(200);
  }, 20_000);
});
