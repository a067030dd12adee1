// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for tests that play
// LL-HLS through hls.js and WebRTC through WHEP in a real browser.
import { chromium, type Browser } from 'playwright-core';
import { toolPath } from './tools.ts';

/** Flags this machine needs for headless Chromium (no GPU, no network but loopback). */
export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

/** Extra flags for WebRTC on loopback; the page must also call getUserMedia once before connecting. */
export const WEBRTC_FLAGS = [
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

export async function launchChromium(opts: { webrtc?: boolean } = {}): Promise<Browser> {
  const executablePath = toolPath('chromium') ?? '/usr/bin/chromium';
  return chromium.launch({
    executablePath,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...(opts.webrtc ? WEBRTC_FLAGS : [])],
  });
}
