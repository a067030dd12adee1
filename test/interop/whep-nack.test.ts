/**
 * NACK (RFC 4585 6.2.1) through WHEP, with werift as the viewer: it decrypts our SRTP with its own
 * SRTP code, asks for a packet again with a Generic NACK, and must receive that packet a second
 * time, byte for byte, from the gateway's retransmission cache. A NACK for a packet older than the
 * cache gets nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenericNack, ProtectionProfileAes128CmHmacSha1_80, RTCPeerConnection, RTCRtpCodecParameters, RtcpTransportLayerFeedback, type RtpPacket } from 'werift';
import { startWhepServer, waitFor, type WhepServer } from '../unit/webrtc/harness.ts';
import { RTX_CACHE } from '../../src/webrtc/peer.ts';

let srv: WhepServer;

beforeAll(async () => {
  srv = await startWhepServer({ cameras: [{ id: 'demo', url: 'builtin:demo' }] });
  await waitFor(() => !!srv.gateway.hub.get('demo')?.lastKeyframe(), 20_000, 'demo keyframe');
}, 30_000);

afterAll(async () => {
  await srv?.close();
});

describe('WHEP NACK', () => {
  it('a NACKed packet is sent again from the cache, identical; one older than the cache is not', async () => {
    const pc = new RTCPeerConnection({
      iceServers: [],
      codecs: {
        video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }], parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' })],
      },
    });
    const got = new Map<number, Buffer[]>();
    let ssrc = 0;
    let received = 0;
    const t = pc.addTransceiver('video', { direction: 'recvonly' });
    t.onTrack.subscribe((track) =>
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
        received++;
        ssrc = rtp.header.ssrc;
        const seq = rtp.header.sequenceNumber;
        const list = got.get(seq) ?? [];
        list.push(Buffer.from(rtp.payload));
        got.set(seq, list);
      }),
    );
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const r = await fetch(`${srv.base}/whep/demo`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
      expect(r.status).toBe(201);
      // werift, as the DTLS server here, would pick its own favourite (AEAD GCM); a browser, as the
      // DTLS server, takes the client's order, which puts AES-CM first (our own SRTP sender's profile).
      for (const d of pc.dtlsTransports) (d as unknown as { srtpProfiles: number[] }).srtpProfiles = [ProtectionProfileAes128CmHmacSha1_80];
      await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
      await waitFor(() => received >= 60, 15_000, '60 video packets');
      expect((pc.dtlsTransports[0] as unknown as { srtp: { localContext: { profile: number } } }).srtp.localContext.profile).toBe(ProtectionProfileAes128CmHmacSha1_80);

      const seqs = [...got.keys()];
      const target = seqs[seqs.length - 20]!;
      const tooOld = (target - RTX_CACHE - 10 + 0x10000) & 0xffff;
      const first = got.get(target)![0]!;
      const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost: [target, tooOld] }) });
      await pc.dtlsTransports[0]!.sendRtcp([nack]);
      await waitFor(() => (got.get(target)?.length ?? 0) >= 2, 5_000, `retransmission of ${target}`);
      const again = got.get(target)![1]!;
      expect(again.equals(first)).toBe(true);
      expect(got.get(tooOld)).toBeUndefined();

    } finally {
      await pc.close();
    }
  }, 40_000);
});
