/**
 * WHEP viewers made of werift peers (an independent SRTP/RTCP implementation) against a gateway with
 * worker threads:
 * - RTCP sender reports map RTP time to the camera's wall clock (RFC 3550 6.4.1);
 * - a PLI (RFC 4585 6.3.1) is answered at once with the cached keyframe, and counted;
 * - the first two sessions run in the main thread, the third on a worker, and each decrypts our SRTP
 *   and gets a NACKed packet again (RFC 4585 6.2.1), byte for byte, from the retransmission cache;
 *   a NACK for a packet older than the cache gets nothing. Both are counted in the session stats.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenericNack, PictureLossIndication, ProtectionProfileAes128CmHmacSha1_80, RtcpPayloadSpecificFeedback, RtcpSrPacket, RTCPeerConnection, RTCRtpCodecParameters, RtcpTransportLayerFeedback, type RtpPacket } from 'werift';
import { RTX_CACHE } from '../../src/webrtc/peer.ts';
import { startWhepServer, waitFor, type WhepServer } from '../unit/webrtc/harness.ts';

let srv: WhepServer;

beforeAll(async () => {
  srv = await startWhepServer({ cameras: [{ id: 'demo' }], udpSpan: 50, webrtc: { workers: 2, mainThreadViewers: 2 } });
  await waitFor(() => !!srv.gateway.hub.get('demo')?.lastKeyframe(), 20_000, 'demo keyframe');
}, 30_000);

afterAll(async () => {
  await srv?.close();
});

interface Viewer {
  pc: RTCPeerConnection;
  id: string;
  got: Map<number, Buffer[]>;
  ssrc: number;
  received: number;
  /** Arrival (Date.now()) and RTP timestamp of each packet, and the NAL type it starts or carries. */
  arrivals: { at: number; ts: number; nal: number }[];
  /** Sender reports: NTP time (ms since 1970) and the RTP timestamp paired with it. */
  reports: { ntpMs: number; rtp: number }[];
}

/** The NAL unit type an H.264 RTP payload carries (STAP-A: its first unit; FU-A: the fragmented unit's). */
function nalType(p: Buffer): number {
  const t = p[0]! & 0x1f;
  if (t === 24) return p[3]! & 0x1f;
  if (t === 28) return p[1]! & 0x1f;
  return t;
}

async function viewer(): Promise<Viewer> {
  const pc = new RTCPeerConnection({
    iceServers: [],
    codecs: {
      video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }], parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' })],
    },
  });
  const t = pc.addTransceiver('video', { direction: 'recvonly' });
  // Only the NACKs this file sends: werift's receiver also NACKs every gap it sees by itself, and a
  // loaded CI machine drops loopback datagrams, which the exact counts below then included (6, not 2).
  (t.receiver as unknown as { nack: { addPacket(p: unknown): void } }).nack.addPacket = () => undefined;
  const v: Viewer = { pc, id: '', got: new Map(), ssrc: 0, received: 0, arrivals: [], reports: [] };
  t.receiver.onRtcp.subscribe((p) => {
    if (!(p instanceof RtcpSrPacket)) return;
    const ntp = p.senderInfo.ntpTimestamp;
    const ntpMs = (Number(ntp >> 32n) - 2208988800) * 1000 + (Number(ntp & 0xffffffffn) / 2 ** 32) * 1000;
    v.reports.push({ ntpMs, rtp: p.senderInfo.rtpTimestamp });
  });
  t.onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      v.received++;
      v.ssrc = rtp.header.ssrc;
      v.arrivals.push({ at: Date.now(), ts: rtp.header.timestamp, nal: nalType(rtp.payload) });
      const list = v.got.get(rtp.header.sequenceNumber) ?? [];
      list.push(Buffer.from(rtp.payload));
      v.got.set(rtp.header.sequenceNumber, list);
    }),
  );
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(`${srv.base}/whep/demo`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
  expect(r.status).toBe(201);
  v.id = r.headers.get('location')!.split('/').pop()!;
  // werift, as the DTLS server here, would pick its own favourite (AEAD GCM); a browser, as the
  // DTLS server, takes the client's order, which puts AES-CM first (our own SRTP sender's profile).
  for (const d of pc.dtlsTransports) (d as unknown as { srtpProfiles: number[] }).srtpProfiles = [ProtectionProfileAes128CmHmacSha1_80];
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  return v;
}

/**
 * A FIR feedback message (RFC 5104 4.3.1: sender SSRC, media SSRC 0, one FCI entry of SSRC + command
 * sequence number), in the shape werift's RtcpPayloadSpecificFeedback serializes; werift parses FIR
 * but does not export its class.
 */
function fullIntraRequest(mediaSsrc: number, seq: number): { count: number; length: number; serialize(): Buffer } {
  const body = Buffer.alloc(16);
  body.writeUInt32BE(1, 0);
  body.writeUInt32BE(0, 4);
  body.writeUInt32BE(mediaSsrc >>> 0, 8);
  body[12] = seq & 0xff;
  // RTCP length: 32-bit words after the first (header word + 4 payload words).
  return { count: 4, length: body.length / 4, serialize: () => body };
}

/** WHEP DELETE, then the peer: the session is gone from the gateway at once. */
async function hangUp(v: Viewer): Promise<void> {
  if (v.id) expect((await fetch(`${srv.base}/whep/sessions/${v.id}`, { method: 'DELETE' })).status).toBe(200);
  await v.pc.close();
}

describe('WHEP viewers on the main thread and on a worker', () => {
  it('sender reports carry the camera clock; a PLI, and a FIR, are answered with the cached keyframe at once, and counted', async () => {
    const v = await viewer();
    try {
      await waitFor(() => v.reports.length >= 2 && v.received >= 100, 15_000, 'two sender reports');
      // RFC 3550 6.4.1: NTP time ↔ RTP timestamp. The demo camera stamps each frame with the wall
      // clock when it is published, so a live packet's RTP time mapped through the latest report lands
      // within a few frames of its arrival (the first-frame burst at the start is left out).
      const sr = v.reports[v.reports.length - 1]!;
      const live = v.arrivals.slice(-50);
      const offsets = live.map((a) => a.at - (sr.ntpMs + (((a.ts - sr.rtp) | 0) / 90)));
      console.log(`sender report mapping: arrival − NTP(rtp) ${Math.min(...offsets).toFixed(0)}…${Math.max(...offsets).toFixed(0)} ms`);
      for (const o of offsets) expect(Math.abs(o)).toBeLessThan(300);

      // PLI (RFC 4585 6.3.1) right after a keyframe: the next one from the camera is a whole GOP away,
      // so an IDR within 300 ms can only be the cached keyframe sent again.
      await waitFor(() => v.arrivals.length > 0 && v.arrivals[v.arrivals.length - 1]!.nal === 5, 10_000, 'a keyframe');
      const gop = srv.gateway.camera('demo')!.status().quality.keyframeIntervalMs;
      expect(gop).toBeGreaterThan(900);
      await new Promise((r) => setTimeout(r, 150));
      const sentAt = Date.now();
      const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: v.ssrc }) });
      await v.pc.dtlsTransports[0]!.sendRtcp([pli]);
      await waitFor(() => v.arrivals.some((a) => a.at >= sentAt && (a.nal === 5 || a.nal === 7)), 300, 'keyframe after PLI');
      await waitFor(() => (srv.service.stats(v.id)?.keyframesResent ?? 0) >= 1, 5_000, 'PLI counted');
      expect(srv.service.stats(v.id)!.keyframeRequests).toBe(1);
      expect(srv.service.stats(v.id)!.keyframesResent).toBe(1);

      // FIR (RFC 5104 4.3.1), the older request some clients send instead: the same answer, after the
      // camera's next keyframe so that again only the cached one can arrive within 300 ms.
      const afterPli = Date.now();
      await waitFor(() => v.arrivals.some((a) => a.at > afterPli && a.nal === 5), 10_000, 'the next keyframe');
      await new Promise((r) => setTimeout(r, 150));
      const firAt = Date.now();
      await v.pc.dtlsTransports[0]!.sendRtcp([new RtcpPayloadSpecificFeedback({ feedback: fullIntraRequest(v.ssrc, 1) as never })]);
      await waitFor(() => v.arrivals.some((a) => a.at >= firAt && (a.nal === 5 || a.nal === 7)), 300, 'keyframe after FIR');
      await waitFor(() => (srv.service.stats(v.id)?.keyframesResent ?? 0) >= 2, 5_000, 'FIR counted');
      expect(srv.service.stats(v.id)!.keyframeRequests).toBe(2);
      // The same command sequence number again is a retransmission of that FIR (RFC 5104 4.3.1.2): not a new request.
      await v.pc.dtlsTransports[0]!.sendRtcp([new RtcpPayloadSpecificFeedback({ feedback: fullIntraRequest(v.ssrc, 1) as never })]);
      await new Promise((r) => setTimeout(r, 1000)); // stats reach the main thread once a second
      expect(srv.service.stats(v.id)!.keyframeRequests).toBe(2);
    } finally {
      await hangUp(v);
    }
  }, 40_000);

  it('two sessions run in the main thread and the third on a worker; each answers a NACK from its cache', async () => {
    const viewers: Viewer[] = [];
    try {
      for (let i = 0; i < 3; i++) viewers.push(await viewer());
      const placed = srv.service.placement();
      expect(placed.main).toBe(2);
      expect(placed.workers.reduce((a, b) => a + b, 0)).toBe(1);
      for (const v of viewers) {
        await waitFor(() => v.received >= 60, 15_000, '60 video packets');
        expect((v.pc.dtlsTransports[0] as unknown as { srtp: { localContext: { profile: number } } }).srtp.localContext.profile).toBe(ProtectionProfileAes128CmHmacSha1_80);
        const seqs = [...v.got.keys()];
        const target = seqs[seqs.length - 20]!;
        const tooOld = (target - RTX_CACHE - 10 + 0x10000) & 0xffff;
        const first = v.got.get(target)![0]!;
        const nack = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: v.ssrc, lost: [target, tooOld] }) });
        await v.pc.dtlsTransports[0]!.sendRtcp([nack]);
        await waitFor(() => (v.got.get(target)?.length ?? 0) >= 2, 5_000, `retransmission of ${target}`);
        expect(v.got.get(target)![1]!.equals(first)).toBe(true);
        expect(v.got.get(tooOld)).toBeUndefined();
        // Counted where the sessions' stats are kept (posted by the engines once a second).
        await waitFor(() => (srv.service.stats(v.id)?.retransmitted ?? 0) >= 1, 5_000, 'retransmission counted');
        expect(srv.service.stats(v.id)!.nacks).toBe(2);
        expect(srv.service.stats(v.id)!.retransmitted).toBe(1);
      }
    } finally {
      for (const v of viewers) await hangUp(v);
    }
  }, 60_000);
});
