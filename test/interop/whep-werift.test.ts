/**
 * WHEP viewers made of werift peers (an independent SRTP/RTCP implementation), against a gateway
 * with worker threads: the first two sessions run in the main thread, the third on a worker, and
 * every one of them decrypts our SRTP and gets a NACKed packet again (RFC 4585 6.2.1), byte for
 * byte, from the retransmission cache. A NACK for a packet older than the cache gets nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { GenericNack, ProtectionProfileAes128CmHmacSha1_80, RTCPeerConnection, RTCRtpCodecParameters, RtcpTransportLayerFeedback, type RtpPacket } from 'werift';
import { Gateway } from '../../src/gateway.ts';
import type { Config } from '../../src/config/types.ts';
import { whepRoutes } from '../../src/webrtc/routes.ts';
import type { WebRtcService } from '../../src/webrtc/service.ts';
import { RTX_CACHE } from '../../src/webrtc/peer.ts';
import { silent, waitFor } from '../unit/webrtc/harness.ts';

let gw: Gateway;
let app: FastifyInstance;
let service!: WebRtcService;
let base: string;

beforeAll(async () => {
  const min = 20000 + Math.floor(Math.random() * 40000);
  const config: Config = {
    server: { http: { host: '127.0.0.1', port: 0 }, rtsp: { host: '127.0.0.1', port: 0 }, webrtc: { udpPorts: { min, max: min + 49 }, additionalHosts: [], iceServers: [] } },
    hls: { partDurationMs: 200, segmentDurationMs: 1000, segmentCount: 7, alwaysRemux: false },
    users: [],
    cameras: [{ id: 'demo', name: 'demo', url: 'builtin:demo', transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: [] }],
  };
  gw = new Gateway(config, silent);
  gw.start();
  app = Fastify();
  await app.register(whepRoutes, { gateway: gw, webrtc: { workers: 2, mainThreadViewers: 2 }, onService: (s) => (service = s) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  await waitFor(() => !!gw.hub.get('demo')?.lastKeyframe(), 20_000, 'demo keyframe');
}, 30_000);

afterAll(async () => {
  await app?.close();
  await gw?.stop();
});

interface Viewer {
  pc: RTCPeerConnection;
  got: Map<number, Buffer[]>;
  ssrc: number;
  received: number;
}

async function viewer(): Promise<Viewer> {
  const pc = new RTCPeerConnection({
    iceServers: [],
    codecs: {
      video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }], parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' })],
    },
  });
  const v: Viewer = { pc, got: new Map(), ssrc: 0, received: 0 };
  const t = pc.addTransceiver('video', { direction: 'recvonly' });
  t.onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      v.received++;
      v.ssrc = rtp.header.ssrc;
      const list = v.got.get(rtp.header.sequenceNumber) ?? [];
      list.push(Buffer.from(rtp.payload));
      v.got.set(rtp.header.sequenceNumber, list);
    }),
  );
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(`${base}/whep/demo`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
  expect(r.status).toBe(201);
  // werift, as the DTLS server here, would pick its own favourite (AEAD GCM); a browser, as the
  // DTLS server, takes the client's order, which puts AES-CM first (our own SRTP sender's profile).
  for (const d of pc.dtlsTransports) (d as unknown as { srtpProfiles: number[] }).srtpProfiles = [ProtectionProfileAes128CmHmacSha1_80];
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  return v;
}

describe('WHEP viewers on the main thread and on a worker', () => {
  it('two sessions run in the main thread and the third on a worker; each answers a NACK from its cache', async () => {
    const viewers: Viewer[] = [];
    try {
      for (let i = 0; i < 3; i++) viewers.push(await viewer());
      const placed = service.placement();
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
      }
    } finally {
      for (const v of viewers) await v.pc.close();
    }
  }, 60_000);
});
