import { describe, it, expect } from 'vitest';
import { parseRtcp, buildReceiverReport, buildSenderReport, ntpToUnixMs, unixMsToNtp } from '../../../src/rtp/rtcp.ts';
import type { ReportBlock } from '../../../src/rtp/rtcp.ts';

/** Hand-built RTCP sub-packet: header (V=2, count, PT, length) + body. */
function pkt(pt: number, count: number, body: Buffer, padding = false): Buffer {
  const h = Buffer.alloc(4);
  h[0] = 0x80 | (padding ? 0x20 : 0) | count;
  h[1] = pt;
  h.writeUInt16BE((4 + body.length) / 4 - 1, 2);
  return Buffer.concat([h, body]);
}

describe('NTP conversion', () => {
  it('converts known instants', () => {
    // 2021-01-01T00:00:00.500Z: NTP seconds 3818448000, fraction 0x80000000
    const ms = Date.UTC(2021, 0, 1, 0, 0, 0, 500);
    const ntp = unixMsToNtp(ms);
    expect(ntp >> 32n).toBe(3818448000n);
    expect(ntp & 0xffffffffn).toBe(0x80000000n);
    expect(ntpToUnixMs(ntp)).toBe(ms);
    expect(ntpToUnixMs(2208988800n << 32n)).toBe(0);
  });

  it('round-trips to sub-millisecond precision', () => {
    for (const ms of [0, 1, 999.5, 1_700_000_000_123, 1_700_000_000_999.75]) {
      expect(Math.abs(ntpToUnixMs(unixMsToNtp(ms)) - ms)).toBeLessThan(0.001);
    }
  });
});

describe('parseRtcp', () => {
  it('parses a compound SR + SDES from a camera', () => {
    const ms = Date.UTC(2024, 5, 1, 12, 0, 0, 250);
    const sr = buildSenderReport({ ssrc: 0x11223344, ntpMs: ms, rtpTime: 123456789, packetCount: 1000, octetCount: 1_000_000, cname: 'cam@10.0.0.10' });
    const { packets, errors } = parseRtcp(sr);
    expect(errors).toEqual([]);
    expect(packets).toHaveLength(2);
    const p0 = packets[0];
    expect(p0.type).toBe('SR');
    if (p0.type !== 'SR') return;
    expect(p0).toMatchObject({ ssrc: 0x11223344, rtpTime: 123456789, packetCount: 1000, octetCount: 1_000_000, reports: [] });
    expect(Math.abs(p0.ntpMs - ms)).toBeLessThan(0.001);
    expect(p0.ntpTime).toBe(unixMsToNtp(ms));
    expect(packets[1]).toEqual({ type: 'SDES', chunks: [{ ssrc: 0x11223344, items: [{ type: 1, text: 'cam@10.0.0.10' }] }] });
  });

  it('parses an RR with report blocks including a negative cumulative loss', () => {
    const blocks: ReportBlock[] = [
      { ssrc: 0xa, fractionLost: 25, cumulativeLost: 10, highestSeq: 65536 + 99, jitter: 321, lsr: 0x12345678, dlsr: 65536 * 2 },
      { ssrc: 0xb, fractionLost: 0, cumulativeLost: -3, highestSeq: 5, jitter: 0, lsr: 0, dlsr: 0 },
    ];
    const buf = buildReceiverReport(0xcafe, blocks, 'camgate');
    const { packets, errors } = parseRtcp(buf);
    expect(errors).toEqual([]);
    expect(packets[0]).toEqual({ type: 'RR', ssrc: 0xcafe, reports: blocks });
    expect(packets[1].type).toBe('SDES');
    expect(buf.length % 4).toBe(0);
  });

  it('parses BYE with a reason', () => {
    const reason = Buffer.from('camera reboot');
    const body = Buffer.alloc(8 + Math.ceil((1 + reason.length) / 4) * 4);
    body.writeUInt32BE(1, 0);
    body.writeUInt32BE(2, 4);
    body[8] = reason.length;
    reason.copy(body, 9);
    const { packets, errors } = parseRtcp(pkt(203, 2, body));
    expect(errors).toEqual([]);
    expect(packets).toEqual([{ type: 'BYE', ssrcs: [1, 2], reason: 'camera reboot' }]);
  });

  it('skips a corrupt sub-packet and keeps the others', () => {
    const sr = buildSenderReport({ ssrc: 7, ntpMs: 1_600_000_000_000, rtpTime: 1, packetCount: 2, octetCount: 3 });
    // an RR claiming 3 report blocks but carrying only one
    const badRr = pkt(201, 3, Buffer.alloc(4 + 24));
    const app = pkt(204, 0, Buffer.from('0000000141424344', 'hex'));
    const bye = pkt(203, 1, Buffer.from('00000007', 'hex'));
    const { packets, errors } = parseRtcp(Buffer.concat([sr, badRr, app, bye]));
    expect(packets.map((p) => p.type)).toEqual(['SR', 'SDES', 'other', 'BYE']);
    expect(packets[2]).toEqual({ type: 'other', packetType: 204 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/RR/);
  });

  it('removes padding on the last sub-packet', () => {
    const body = Buffer.from('000000090000000000000004', 'hex'); // BYE ssrc 9, then 8 padding octets
    const { packets, errors } = parseRtcp(pkt(203, 1, body, true));
    expect(errors).toEqual([]);
    expect(packets).toEqual([{ type: 'BYE', ssrcs: [9] }]);
  });

  it('stops at a length field running past the end, keeping what came before', () => {
    const rr = buildReceiverReport(1, []);
    const broken = Buffer.from('80c90010000000', 'hex');
    const { packets, errors } = parseRtcp(Buffer.concat([rr, broken]));
    expect(packets.map((p) => p.type)).toEqual(['RR', 'SDES']);
    expect(errors).toHaveLength(1);
  });

  it('reports garbage without throwing', () => {
    expect(parseRtcp(Buffer.alloc(0))).toEqual({ packets: [], errors: [] });
    expect(parseRtcp(Buffer.from('00000000', 'hex')).errors).toHaveLength(1);
    expect(parseRtcp(Buffer.from('81ca0001000000010105', 'hex')).errors.length).toBeGreaterThan(0);
  });
});

describe('builders', () => {
  it('RR with no blocks is the 8-byte empty RR + SDES', () => {
    const buf = buildReceiverReport(0x01020304, []);
    expect(buf.subarray(0, 8).toString('hex')).toBe('80c9000101020304');
    const { packets } = parseRtcp(buf);
    expect(packets[1]).toEqual({ type: 'SDES', chunks: [{ ssrc: 0x01020304, items: [{ type: 1, text: 'camgate' }] }] });
  });

  it('clamps out-of-range report values instead of throwing', () => {
    const buf = buildReceiverReport(1, [{ ssrc: 2, fractionLost: 999, cumulativeLost: -1e9, highestSeq: 2 ** 33 + 5, jitter: 1.7, lsr: 0, dlsr: 12.9 }]);
    const p = parseRtcp(buf).packets[0];
    expect(p.type === 'RR' && p.reports[0]).toEqual({ ssrc: 2, fractionLost: 255, cumulativeLost: -0x800000, highestSeq: 5, jitter: 1, lsr: 0, dlsr: 12 });
  });
});
