/**
 * Probe: 16 WHEP setups at once from one headless Chromium page (what a 16-tile wall does), against
 * an in-process gateway. Prints, per round, POST→201, answer→connected and POST→first frame p50/p95.
 * Usage: node --import tsx bench/whep-setup.ts [rounds]
 */
import { launchChromium } from '../test/helpers/browser.ts';
import { startWhepServer, waitFor, installWhepClient } from '../test/unit/webrtc/harness.ts';

const N = 16;
const rounds = Number(process.argv[2] ?? 4);
function pct(a: number[], p: number): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}
const srv = await startWhepServer({ cameras: [{ id: 'demo' }], udpSpan: 400 });
await waitFor(() => !!srv.gateway.hub.get('demo')?.lastKeyframe(), 15_000, 'demo keyframe');
const browser = await launchChromium({ webrtc: true });
const page = await browser.newPage();
await page.goto(`${srv.base}/blank`).catch(() => undefined);
await installWhepClient(page);
await page.addScriptTag({
  content: `
window.setup16 = async (url, n) => {
  const t0 = performance.now();
  const one = async () => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    const r = { post: 0, connected: 0, frame: 0 };
    const v = document.createElement('video'); v.muted = true; v.autoplay = true; v.width = 80;
    document.body.appendChild(v);
    pc.ontrack = (e) => { v.srcObject = new MediaStream([e.track]); v.requestVideoFrameCallback(() => { r.frame = performance.now() - t0; }); };
    pc.onconnectionstatechange = () => { if (pc.connectionState === 'connected') r.connected = performance.now() - t0; };
    await pc.setLocalDescription(await pc.createOffer());
    const sdp = pc.localDescription.sdp.replace(/a=candidate:.*\\r\\n/g, '').replace(/a=end-of-candidates\\r\\n/g, '');
    const ts = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
    r.post = performance.now() - ts; r.postEnd = performance.now() - t0;
    r.location = res.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    r.pc = pc; r.v = v;
    return r;
  };
  const all = await Promise.all(Array.from({ length: n }, one));
  const end = performance.now() + 8000;
  while (all.some((r) => !r.frame) && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
  const out = all.map((r) => ({ post: r.post, connect: r.connected ? r.connected - r.postEnd : NaN, frame: r.frame || NaN }));
  for (const r of all) { r.pc.close(); r.v.remove(); fetch(r.location, { method: 'DELETE', keepalive: true }); }
  return out;
};`,
});
// getUserMedia once (loopback ICE on this machine's Chromium needs it).
await page.evaluate(`navigator.mediaDevices.getUserMedia({ audio: true }).then((s) => s.getTracks().forEach((t) => t.stop()))`);
for (let r = 0; r < rounds; r++) {
  const res = (await page.evaluate(`window.setup16(${JSON.stringify(`${srv.base}/whep/demo`)}, ${N})`)) as { post: number; connect: number; frame: number }[];
  const f = (k: 'post' | 'connect' | 'frame') => res.map((x) => x[k]).filter((x) => !Number.isNaN(x));
  console.log(
    `round ${r}: POST p50 ${pct(f('post'), 50).toFixed(0)} p95 ${pct(f('post'), 95).toFixed(0)} | answer→connected p50 ${pct(f('connect'), 50).toFixed(0)} p95 ${pct(f('connect'), 95).toFixed(0)} | first frame p50 ${pct(f('frame'), 50).toFixed(0)} p95 ${pct(f('frame'), 95).toFixed(0)} (n=${f('frame').length}/${N})`,
  );
  await new Promise((r) => setTimeout(r, 1500));
}
await browser.close();
await srv.close();
process.exit(0);
