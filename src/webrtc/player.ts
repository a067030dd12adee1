/**
 * GET /whep/<stream>: a minimal WHEP player page (for a newcomer: open it, see the camera). It is a
 * plain WHEP client: recvonly offer, POST, answer, trickle by PATCH, DELETE on unload.
 */
import type { IceServer } from '../config/types.ts';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function playerPage(stream: string, iceServers: IceServer[]): string {
  const cfg = JSON.stringify({ stream, iceServers }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(stream)} · WHEP · camgate</title>
<style>html,body{margin:0;background:#000;color:#ccc;font:13px system-ui}video{width:100vw;height:100vh;object-fit:contain}#s{position:fixed;left:8px;bottom:8px}</style>
</head><body><video id="v" autoplay muted playsinline></video><div id="s">connecting…</div>
<script type="module">
const cfg = ${cfg};
const v = document.getElementById('v'), s = document.getElementById('s');
const token = new URLSearchParams(location.search).get('token');
const auth = token ? { Authorization: 'Bearer ' + token } : {};
async function play() {
  const pc = new RTCPeerConnection({ iceServers: cfg.iceServers });
  window.whepPc = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const ms = new MediaStream();
  pc.ontrack = (e) => { ms.addTrack(e.track); v.srcObject = ms; };
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(location.pathname, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...auth }, body: pc.localDescription.sdp });
  if (r.status !== 201) { s.textContent = 'WHEP ' + r.status + ': ' + (await r.text()); if (r.status === 409) setTimeout(play, 2000); return; }
  const session = new URL(r.headers.get('Location'), location.href).href;
  pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) fetch(session, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', ...auth }, body: 'a=mid:' + e.candidate.sdpMid + '\\r\\na=' + e.candidate.candidate + '\\r\\n' }); };
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  pc.onconnectionstatechange = () => { s.textContent = pc.connectionState; if (pc.connectionState === 'failed') { pc.close(); setTimeout(play, 1000); } };
  addEventListener('pagehide', () => fetch(session, { method: 'DELETE', keepalive: true, headers: auth }));
}
play().catch((e) => { s.textContent = String(e); });
</script></body></html>`;
}
