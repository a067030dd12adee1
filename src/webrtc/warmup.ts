/**
 * One WHEP session with itself, run by each WebRTC worker when the server starts: a werift viewer
 * on this thread connects to a WhepPeer over ICE, DTLS and SRTP, receives a few packets and hangs up.
 *
 * Why: the first wall after the gateway started waited for code that had never run in the worker
 * (werift's SDP, ICE, DTLS and SRTP set-up, our packetizer and SRTP sender). POST → 201 took 280 ms
 * instead of 110 and answer → connected 300 ms instead of 50 (bench:wall, first wall after start).
 * A session of its own at start runs that code once before any browser waits for it.
 */
import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { negotiate } from './negotiate.ts';
import { WhepPeer } from './peer.ts';

const WARM_UP_TIMEOUT_MS = 5000;

/** Resolves once the self-session has connected and sent a few packets, or after WARM_UP_TIMEOUT_MS; never rejects. */
export async function warmUp(): Promise<boolean> {
  const viewer = new RTCPeerConnection({
    codecs: { video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }], parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' })], audio: [] },
    iceUseIpv6: false,
  });
  let peer: WhepPeer | undefined;
  try {
    viewer.addTransceiver('video', { direction: 'recvonly' });
    await viewer.setLocalDescription(await viewer.createOffer());
    // A Constrained Baseline SPS prefix (profile, constraints, level): all negotiate() reads.
    const track = { id: 0, kind: 'video' as const, codec: 'H264' as const, clockRate: 90000, params: { sps: Buffer.from([0x67, 0x42, 0xe0, 0x1f]) } };
    const neg = negotiate({ offer: viewer.localDescription!.sdp, tracks: [track], audioMode: 'off', canTranscode: false });
    const connected = new Promise<void>((resolve) => {
      peer = new WhepPeer({ id: 'warm-up', plans: neg.plans, offer: neg.offer, additionalHosts: [], connectTimeoutMs: WARM_UP_TIMEOUT_MS, onClose: () => resolve(), onKeyframeRequest: () => undefined });
      peer.onConnected = () => resolve();
    });
    await viewer.setRemoteDescription({ type: 'answer', sdp: await peer!.answer() });
    await Promise.race([connected, new Promise((r) => setTimeout(r, WARM_UP_TIMEOUT_MS))]);
    const out = peer!.tracks[0];
    if (!peer!.connected || !out) return false;
    const payload = Buffer.alloc(1000, 0x5c);
    for (let i = 0; i < 32; i++) out.send({ payload, marker: i % 8 === 7 }, out.tsBase + (i >> 3) * 3000, Date.now());
    return true;
  } catch {
    return false;
  } finally {
    peer?.close('warm-up done');
    await viewer.close().catch(() => undefined);
  }
}
