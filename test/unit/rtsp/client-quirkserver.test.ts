// RtspClient against the shared QuirkServer (test/helpers/quirk-server.ts) with its real H.264
// pump: the end-to-end path a camera takes, complementing the byte-exact scenarios in
// client-quirks.test.ts.
import { describe, it, expect, afterEach } from 'vitest';
import { RtspClient } from '../../../src/rtsp/client.ts';
import { startQuirkServer, reply, h264Sdp, startH264Pump, digestCheck, rtcpSenderReport } from '../../helpers/quirk-server.ts';
import type { QuirkServer, QsRequest, QsContext } from '../../helpers/quirk-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let qs: QuirkServer | undefined;
let client: RtspClient | undefined;
afterEach(async () => {
  await client?.stop();
  await qs?.close();
  client = undefined;
  qs = undefined;
});

/** Dahua-like camera: SHA-256 digest on every request, SR + first RTP before the PLAY response */
function dahua(transportSeen: string[]) {
  return (req: QsRequest, ctx: QsContext) => {
    if (!digestCheck(req, 'admin', 'Dahua#2024', 'Login to 6G0123', 'nonce-1', 'SHA-256')) {
      return reply(req, 401, { 'WWW-Authenticate': ['Digest realm="Login to 6G0123", nonce="nonce-1", algorithm=MD5', 'Digest realm="Login to 6G0123", nonce="nonce-1", algorithm=SHA-256'] });
    }
    switch (req.method) {
      case 'OPTIONS':
        return reply(req, 200, { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' });
      case 'DESCRIBE':
        return reply(req, 200, { 'Content-Type': 'application/sdp', 'Content-Base': `${qs!.url('/cam/realmonitor?channel=1&subtype=0')}/` }, h264Sdp({ control: 'trackID=0' }));
      case 'SETUP': {
        const t = req.headers['transport'] ?? '';
        transportSeen.push(t);
        const m = /client_port=(\d+)-(\d+)/.exec(t);
        ctx.state.udp = !!m;
        return reply(req, 200, {
          Session: 'dahua1;timeout=60',
          Transport: m ? `RTP/AVP;unicast;client_port=${m[1]}-${m[2]};server_port=${ctx.serverPorts[0]}-${ctx.serverPorts[1]};ssrc=  1A2B3C4D` : 'RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=1A2B3C4D',
        });
      }
      case 'PLAY': {
        if (!ctx.state.udp) ctx.interleaved(1, rtcpSenderReport(0x1a2b3c4d, Date.now(), 0, 0, 0));
        ctx.write(reply(req, 200, { Session: 'dahua1', 'RTP-Info': `url=${req.uri}/trackID=0;seq=1;rtptime=0` }));
        startH264Pump(ctx, { transport: ctx.state.udp ? 'udp' : 'tcp', channel: 0, track: 0, ssrc: 0x1a2b3c4d, startSeq: 65500 });
        return null;
      }
      case 'TEARDOWN':
        return reply(req, 200, {});
      default:
        return reply(req, 200, {});
    }
  };
}

describe('RtspClient ↔ QuirkServer H.264 pump', () => {
  for (const transport of ['tcp', 'udp'] as const) {
    it(`Dahua-like camera over ${transport}: SHA-256 digest, query base, contiguous RTP through seq wrap`, async () => {
      const seen: string[] = [];
      qs = await startQuirkServer(dahua(seen));
      client = new RtspClient({ url: qs.url('/cam/realmonitor?channel=1&subtype=0'), credentials: { username: 'admin', password: 'Dahua#2024' }, transport });
      const seqs: number[] = [];
      client.on('rtp', (track: number, pkt: Buffer) => {
        if (track === 0) seqs.push(pkt.readUInt16BE(2));
      });
      const info = await client.start();
      await sleep(1500);
      expect(info.tracks).toHaveLength(1);
      expect(info.tracks[0]!.ssrc).toBe(0x1a2b3c4d);
      expect(info.tracks[0]!.controlUrl).toBe(qs.url('/cam/realmonitor?channel=1&subtype=0/trackID=0'));
      expect(info.quirks).toContain('digest auth (SHA-256)');
      expect(seqs.length).toBeGreaterThan(20);
      // loopback, no loss: every packet delivered once, in order (mod 2^16)
      expect(seqs).toContain(0); // wrapped past 65535
      for (let i = 1; i < seqs.length; i++) expect((seqs[i - 1]! + 1) & 0xffff).toBe(seqs[i]);
      expect(seen[0]).toMatch(transport === 'tcp' ? /^RTP\/AVP\/TCP;unicast;interleaved=0-1$/ : /^RTP\/AVP;unicast;client_port=\d+-\d+$/);
      expect(qs.requests.filter((r) => r.method === 'PLAY')[0]!.headers['range']).toBe('npt=0.000-');
    });
  }
});
