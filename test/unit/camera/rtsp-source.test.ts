// RtspSource (client → RTP receiver → depacketizer) against the scripted QuirkServer: receiver reports
// reach the camera with the right loss figures, and the camera's sender reports drive the wall clock.
import { describe, it, expect, afterEach } from 'vitest';
import { RtspSource } from '../../../src/camera/rtsp-source.ts';
import { parseRtcp, type ReportBlock } from '../../../src/rtp/rtcp.ts';
import type { AccessUnit } from '../../../src/stream/types.ts';
import { startQuirkServer, reply, h264Sdp, startH264Pump, rtcpSenderReport } from '../../helpers/quirk-server.ts';
import type { QuirkServer, QsRequest, QsContext } from '../../helpers/quirk-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SSRC = 0x11223344;
let qs: QuirkServer | undefined;
let source: RtspSource | undefined;
let lastCtx: QsContext | undefined;
afterEach(async () => {
  await source?.stop();
  await qs?.close();
  source = undefined;
  qs = undefined;
});

/**
 * A camera that drops every 20th RTP packet. With `skewMs` undefined it sends a sender report every
 * second with NTP = now; otherwise one SR up front whose NTP clock is `skewMs` ahead of ours.
 */
function lossyCamera(skewMs?: number) {
  return (req: QsRequest, ctx: QsContext) => {
    switch (req.method) {
      case 'OPTIONS':
        return reply(req, 200, { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' });
      case 'DESCRIBE':
        return reply(req, 200, { 'Content-Type': 'application/sdp', 'Content-Base': `${qs!.url('/cam')}/` }, h264Sdp({ control: 'trackID=0' }));
      case 'SETUP': {
        const m = /client_port=(\d+)-(\d+)/.exec(req.headers['transport'] ?? '');
        ctx.state.udp = !!m;
        return reply(req, 200, {
          Session: 'S1;timeout=60',
          Transport: m
            ? `RTP/AVP;unicast;client_port=${m[1]}-${m[2]};server_port=${ctx.serverPorts[0]}-${ctx.serverPorts[1]};ssrc=${SSRC.toString(16)}`
            : `RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=${SSRC.toString(16)}`,
        });
      }
      case 'PLAY': {
        lastCtx = ctx;
        ctx.write(reply(req, 200, { Session: 'S1' }));
        const startTimestamp = 123456;
        if (skewMs !== undefined) {
          const sr = rtcpSenderReport(SSRC, Date.now() + skewMs, startTimestamp, 0, 0);
          if (ctx.state.udp) ctx.sendUdp(0, sr, true);
          else ctx.interleaved(1, sr);
        }
        startH264Pump(ctx, {
          transport: ctx.state.udp ? 'udp' : 'tcp',
          ssrc: SSRC,
          fps: 25,
          startTimestamp,
          senderReports: skewMs === undefined,
          transform: (pkt, i) => (i % 20 === 19 ? null : pkt),
        });
        return null;
      }
      default:
        return reply(req, 200, { Session: 'S1' });
    }
  };
}

function receiverReports(server: QuirkServer, transport: 'tcp' | 'udp'): ReportBlock[] {
  const raw =
    transport === 'udp'
      ? server.udpReceived.filter((d) => d.port === 'rtcp').map((d) => d.data)
      : (lastCtx?.interleavedIn ?? []).filter((f) => f.channel === 1).map((f) => f.payload);
  const blocks: ReportBlock[] = [];
  for (const buf of raw) for (const p of parseRtcp(buf).packets) if (p.type === 'RR') blocks.push(...p.reports);
  return blocks;
}

describe('RtspSource receiver reports and wall clock', () => {
  it('sends RFC 3550 receiver reports over UDP with the loss it saw', async () => {
    qs = await startQuirkServer(lossyCamera(0));
    source = new RtspSource({ url: qs.url('/cam'), transport: 'udp' }, { rrIntervalMs: 400 });
    const aus: AccessUnit[] = [];
    await source.start({ accessUnit: (au) => aus.push(au), trackParams() {}, close() {}, quirk() {} });
    source.ready();
    await sleep(2200);
    const q = source.rtpQuality();
    const blocks = receiverReports(qs, 'udp').filter((b) => b.ssrc === SSRC);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const last = blocks[blocks.length - 1]!;
    // every 20th packet dropped: about 5 % lost, reported as a fraction of 256 and as a count
    expect(last.cumulativeLost).toBeGreaterThan(0);
    expect(q.packetsLost).toBeGreaterThan(0);
    expect(Math.abs(last.cumulativeLost - q.packetsLost)).toBeLessThanOrEqual(q.packetsLost); // reported before the last few losses
    const fractions = blocks.map((b) => b.fractionLost);
    expect(Math.max(...fractions)).toBeGreaterThan(0);
    expect(Math.max(...fractions)).toBeLessThan(64); // < 25 %
    // LSR echoes the middle of the camera's last SR NTP time once one arrived
    expect(blocks.some((b) => b.lsr !== 0)).toBe(true);
    expect(q.packetsReceived).toBeGreaterThan(30);
    expect(aus.length).toBeGreaterThan(10);
  });

  it('maps RTP time to the camera wall clock from its sender report (camera clock 10 s ahead), and reports over TCP', async () => {
    qs = await startQuirkServer(lossyCamera(10_000));
    source = new RtspSource({ url: qs.url('/cam'), transport: 'tcp' }, { rrIntervalMs: 400 });
    const aus: { au: AccessUnit; at: number }[] = [];
    await source.start({ accessUnit: (au) => aus.push({ au, at: Date.now() }), trackParams() {}, close() {}, quirk() {} });
    source.ready();
    await sleep(2000);
    // wall clock = SR NTP time + RTP delta since the SR's RTP time: the camera's clock, 10 s ahead of ours
    expect(aus.length).toBeGreaterThan(20);
    for (const { au, at } of aus.slice(1)) expect(Math.abs(au.wallclock - (at + 10_000))).toBeLessThan(300);
    // receiver reports went back interleaved on the RTCP channel, with LSR from that SR
    const blocks = receiverReports(qs, 'tcp').filter((b) => b.ssrc === SSRC);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(blocks[blocks.length - 1]!.lsr).not.toBe(0);
    expect(blocks[blocks.length - 1]!.cumulativeLost).toBeGreaterThan(0);
  });

  it('keeps the keyframe a camera sends before its PLAY response (Reolink, QUIRKS Q05)', async () => {
    qs = await startQuirkServer((req, ctx) => {
      if (req.method !== 'PLAY') return lossyCamera()(req, ctx);
      // RTCP SR and the first IDR go out before the 200 OK to PLAY.
      ctx.interleaved(1, rtcpSenderReport(SSRC, Date.now(), 5000, 0, 0));
      startH264Pump(ctx, { transport: 'tcp', ssrc: SSRC, fps: 25, startTimestamp: 5000 });
      return reply(req, 200, { Session: 'S1' });
    });
    source = new RtspSource({ url: qs.url('/cam'), transport: 'tcp' });
    const aus: AccessUnit[] = [];
    await source.start({ accessUnit: (au) => aus.push(au), trackParams() {}, close() {}, quirk() {} });
    source.ready();
    await sleep(300);
    expect(aus.length).toBeGreaterThan(2);
    expect(aus[0]!.keyframe).toBe(true);
    expect(aus[0]!.pts).toBe(5000);
  });
});
