import { describe, it, expect } from 'vitest';
import { RtpReceiver } from '../../../src/rtp/receiver.ts';
import type { ReceivedPacket } from '../../../src/rtp/receiver.ts';
import { serializeRtpPacket } from '../../../src/rtp/packet.ts';
import { parseRtcp, buildSenderReport, unixMsToNtp } from '../../../src/rtp/rtcp.ts';

const rtp = (seq: number, ts = seq * 3000, ssrc = 0x1234, pt = 96) =>
  serializeRtpPacket({ marker: false, payloadType: pt, sequenceNumber: seq & 0xffff, timestamp: ts >>> 0, ssrc, payload: Buffer.from([seq & 0xff, 1, 2, 3]) });

function clock(start = 0) {
  const c = { t: start, now: () => c.t };
  return c;
}

const seqs = (out: ReceivedPacket[]) => out.map((p) => p.packet.sequenceNumber);

describe('RtpReceiver sequence handling', () => {
  it('crosses the 16-bit sequence wrap without loss', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false });
    const out: ReceivedPacket[] = [];
    for (let i = 0; i < 20; i++) out.push(...rx.pushRtp(rtp(65530 + i)));
    expect(out.map((p) => p.extSeq)).toEqual(Array.from({ length: 20 }, (_, i) => 65530 + i));
    expect(seqs(out).slice(4, 8)).toEqual([65534, 65535, 0, 1]);
    expect(out.every((p) => p.lostBefore === 0)).toBe(true);
    expect(rx.stats).toMatchObject({ packetsReceived: 20, packetsLost: 0, extHighestSeq: 65549, ssrc: 0x1234 });
    expect(rx.reportBlock()).toMatchObject({ highestSeq: 65549, cumulativeLost: 0, fractionLost: 0, ssrc: 0x1234 });
  });

  it('unwraps the 32-bit timestamp, forwards and backwards', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false });
    const base = 2 ** 32 - 6000;
    const tss = [base, base + 3000, base + 6000 /* wraps to 0 */, base + 12000, base + 9000 /* B-frame, earlier */, base + 15000];
    const out = tss.flatMap((ts, i) => rx.pushRtp(rtp(i, ts)));
    expect(out.map((p) => p.packet.timestamp)).toEqual(tss.map((t) => t % 2 ** 32));
    expect(out.map((p) => p.extTimestamp)).toEqual(tss);
  });

  it('counts loss: 10 of 100 dropped ⇒ fractionLost 25/256, then 0 for a clean interval', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false });
    const out: ReceivedPacket[] = [];
    for (let s = 0; s < 100; s++) if (s % 10 !== 5) out.push(...rx.pushRtp(rtp(1000 + s)));
    expect(out).toHaveLength(90);
    expect(out.reduce((a, p) => a + p.lostBefore, 0)).toBe(10);
    expect(out.filter((p) => p.lostBefore > 0).map((p) => p.packet.sequenceNumber % 10)).toEqual(Array(10).fill(6));
    expect(rx.stats).toMatchObject({ packetsReceived: 90, packetsLost: 10 });
    expect(rx.stats.lossPercent).toBeCloseTo(10, 5);
    const rb = rx.reportBlock()!;
    expect(rb.fractionLost).toBe(25); // floor(10 * 256 / 100)
    expect(rb.cumulativeLost).toBe(10);
    for (let s = 100; s < 150; s++) rx.pushRtp(rtp(1000 + s));
    const rb2 = rx.reportBlock()!;
    expect(rb2.fractionLost).toBe(0);
    expect(rb2.cumulativeLost).toBe(10);
    expect(rb2.highestSeq).toBe(1149);
  });

  it('drops and counts duplicates (TCP and UDP)', () => {
    for (const reorder of [false, true]) {
      const rx = new RtpReceiver({ clockRate: 90000, reorder });
      const out = [1, 2, 2, 3, 1, 3, 4].flatMap((s) => rx.pushRtp(rtp(s)));
      expect(seqs(out)).toEqual([1, 2, 3, 4]);
      expect(rx.stats.duplicates).toBe(3);
      expect(rx.stats.packetsReceived).toBe(4);
      expect(rx.stats.packetsLost).toBe(0);
    }
  });

  it('UDP: reordering within the window is delivered sorted', () => {
    const c = clock();
    const rx = new RtpReceiver({ clockRate: 90000, reorder: true, now: c.now });
    const steps = [10, 11, 13, 14, 12, 15].map((s) => seqs(rx.pushRtp(rtp(s))));
    expect(steps).toEqual([[10], [11], [], [], [12, 13, 14], [15]]);
    expect(rx.stats).toMatchObject({ reordered: 1, packetsLost: 0, packetsReceived: 6 });
  });

  it('TCP: packets are delivered at once, gaps still count as loss', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false });
    const out = [1, 2, 5, 6].flatMap((s) => rx.pushRtp(rtp(s)));
    expect(out.map((p) => [p.packet.sequenceNumber, p.lostBefore])).toEqual([[1, 0], [2, 0], [5, 2], [6, 0]]);
    expect(rx.stats.packetsLost).toBe(2);
  });

  it('UDP: a missing packet is given up after the reorder timeout (flush and next push)', () => {
    const c = clock(1000);
    const rx = new RtpReceiver({ clockRate: 90000, reorder: true, reorderTimeoutMs: 50, now: c.now });
    expect(seqs(rx.pushRtp(rtp(1)))).toEqual([1]);
    expect(seqs(rx.pushRtp(rtp(3)))).toEqual([]);
    c.t += 20;
    expect(rx.flush()).toEqual([]);
    c.t += 30;
    const flushed = rx.flush();
    expect(flushed.map((p) => [p.packet.sequenceNumber, p.lostBefore])).toEqual([[3, 1]]);
    // the missing one finally arrives: too late, dropped
    expect(rx.pushRtp(rtp(2))).toEqual([]);
    expect(rx.stats.outOfWindow).toBe(1);
    // expiry also runs on push, without a timer
    rx.pushRtp(rtp(5));
    c.t += 60;
    expect(seqs(rx.pushRtp(rtp(6)))).toEqual([5, 6]);
    // force flush empties the buffer immediately
    rx.pushRtp(rtp(8));
    expect(seqs(rx.flush(true))).toEqual([8]);
    expect(rx.buffered).toBe(0);
  });

  it('UDP: the buffer never exceeds the window; a far jump ahead drains it', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: true, reorderWindow: 8, now: () => 0 });
    rx.pushRtp(rtp(1));
    let max = 0;
    for (let s = 3; s <= 9; s++) {
      expect(rx.pushRtp(rtp(s))).toEqual([]);
      max = Math.max(max, rx.buffered);
    }
    expect(max).toBe(7);
    const out = rx.pushRtp(rtp(10));
    expect(seqs(out)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(out[0].lostBefore).toBe(1);
    expect(rx.buffered).toBe(0);
  });

  it('resyncs after a jump of 10000 followed by sequential packets (RFC 3550 A.1)', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: true, now: () => 0 });
    const before = Array.from({ length: 10 }, (_, i) => 100 + i).flatMap((s) => rx.pushRtp(rtp(s)));
    expect(before).toHaveLength(10);
    // first jumped packet is held (could be a stray), the next sequential one confirms the restart
    expect(rx.pushRtp(rtp(10109))).toEqual([]);
    const out = rx.pushRtp(rtp(10110));
    expect(seqs(out)).toEqual([10109, 10110]);
    expect(out[0].resync).toBe(true);
    expect(out[0].lostBefore).toBe(1);
    const after = Array.from({ length: 10 }, (_, i) => 10111 + i).flatMap((s) => rx.pushRtp(rtp(s)));
    expect(seqs(after)).toEqual(Array.from({ length: 10 }, (_, i) => 10111 + i));
    expect(rx.stats).toMatchObject({ resyncs: 1, packetsLost: 0, packetsReceived: 22, extHighestSeq: 10120 });
  });

  it('a single stray packet far away is dropped without resync', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false });
    const out = [1, 2, 30000, 3, 4].flatMap((s) => rx.pushRtp(rtp(s)));
    expect(seqs(out)).toEqual([1, 2, 3, 4]);
    expect(rx.stats).toMatchObject({ resyncs: 0, outOfWindow: 1, packetsLost: 0 });
  });

  it('a camera restart with a new SSRC and sequence resyncs instead of stalling', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: true, now: () => 0 });
    [1, 2, 3].forEach((s) => rx.pushRtp(rtp(s, s * 3000, 0xaaaa)));
    // one stray packet from an unknown SSRC is not delivered
    expect(rx.pushRtp(rtp(777, 0, 0xcccc))).toEqual([]);
    expect(rx.pushRtp(rtp(50000, 0, 0xbbbb))).toEqual([]);
    const out = rx.pushRtp(rtp(50001, 3000, 0xbbbb));
    expect(out.map((p) => [p.packet.ssrc, p.packet.sequenceNumber])).toEqual([[0xbbbb, 50000], [0xbbbb, 50001]]);
    expect(out[0].resync).toBe(true);
    expect(seqs(rx.pushRtp(rtp(50002, 6000, 0xbbbb)))).toEqual([50002]);
    expect(rx.stats).toMatchObject({ ssrc: 0xbbbb, ssrcChanges: 1, packetsLost: 0 });
    expect(rx.reportBlock()!.ssrc).toBe(0xbbbb);
  });

  it('Q28: an expectedSsrc that the camera does not use is overridden by 2 sequential packets', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false, expectedSsrc: 0 });
    expect(rx.pushRtp(rtp(10, 0, 0x4317f))).toEqual([]);
    expect(seqs(rx.pushRtp(rtp(11, 0, 0x4317f)))).toEqual([10, 11]);
    expect(rx.stats.ssrc).toBe(0x4317f);
    expect(rx.stats.ssrcChanges).toBe(0);
  });

  it('counts malformed packets and foreign payload types (Q33 Geovision PT 50)', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false, payloadTypes: [96] });
    rx.pushRtp(Buffer.from([1, 2, 3]));
    rx.pushRtp(rtp(1));
    rx.pushRtp(rtp(1, 0, 0x1234, 50)); // duplicates seq 1 on PT 50
    expect(seqs(rx.pushRtp(rtp(2)))).toEqual([2]);
    expect(rx.stats).toMatchObject({ malformed: 1, foreignPayloadType: 1, duplicates: 0, packetsReceived: 2 });
  });
});

describe('RtpReceiver timing', () => {
  it('computes interarrival jitter with the RFC 3550 A.8 formula', () => {
    const c = clock(5000);
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false, now: c.now });
    // deterministic pseudo-random network delay in ms
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let expected = 0;
    let prevTransit: number | undefined;
    for (let i = 0; i < 200; i++) {
      const sendMs = i * 40; // 25 fps
      const ts = 1_000_000 + i * 3600;
      c.t = 5000 + sendMs + rnd() * 30;
      rx.pushRtp(rtp(i, ts));
      // independent computation: D in RTP units from (arrival - send) differences
      const transit = (c.t * 90) - ts;
      if (prevTransit !== undefined) expected += (Math.abs(transit - prevTransit) - expected) / 16;
      prevTransit = transit;
    }
    expect(expected).toBeGreaterThan(100);
    expect(rx.stats.jitter).toBeCloseTo(expected, 6);
    expect(rx.stats.jitterMs).toBeCloseTo(expected / 90, 6);
    expect(rx.reportBlock()!.jitter).toBe(Math.floor(expected));
  });

  it('zero jitter for perfectly paced packets', () => {
    const c = clock();
    const rx = new RtpReceiver({ clockRate: 8000, reorder: false, now: c.now });
    for (let i = 0; i < 50; i++) {
      c.t = i * 20;
      rx.pushRtp(rtp(i, i * 160));
    }
    expect(rx.stats.jitter).toBe(0);
  });

  it('fills LSR and DLSR from a fed SR', () => {
    const c = clock(10_000);
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false, now: c.now });
    rx.pushRtp(rtp(1));
    const ntpMs = Date.UTC(2024, 0, 1, 0, 0, 0, 0);
    const sr = parseRtcp(buildSenderReport({ ssrc: 0x1234, ntpMs, rtpTime: 3000, packetCount: 1, octetCount: 4 })).packets[0];
    if (sr.type !== 'SR') throw new Error('not SR');
    rx.handleSenderReport(sr);
    c.t += 1500;
    const rb = rx.reportBlock()!;
    expect(rb.lsr).toBe(Number((unixMsToNtp(ntpMs) >> 16n) & 0xffffffffn));
    expect(rb.dlsr).toBe(1.5 * 65536);
    expect(rx.stats.lastSrNtpMs).toBe(ntpMs);
  });

  it('LSR/DLSR are 0 without an SR', () => {
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false });
    expect(rx.reportBlock()).toBeUndefined();
    rx.pushRtp(rtp(1));
    expect(rx.reportBlock()).toMatchObject({ lsr: 0, dlsr: 0 });
  });

  it('maps RTP time to wall-clock from an SR pair, also across the timestamp wrap', () => {
    const c = clock(777);
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false, now: c.now });
    const ts0 = 2 ** 32 - 90000; // one second before the wrap
    const first = rx.pushRtp(rtp(1, ts0));
    // before any SR: relative to the first packet's arrival
    expect(first[0].wallclock).toBe(777);
    expect(rx.wallclock(first[0].extTimestamp + 45000)).toBe(777 + 500);
    // SR taken half a second after the wrap: rtpTime is small again
    const ntpMs = 1_700_000_000_000;
    rx.handleSenderReport({ type: 'SR', ssrc: 0x1234, ntpTime: unixMsToNtp(ntpMs), ntpMs, rtpTime: 45000, packetCount: 0, octetCount: 0, reports: [] }, 2000);
    const out = rx.pushRtp(rtp(2, 90000)); // 1.5 s after ts0, past the wrap
    expect(out[0].extTimestamp).toBe(2 ** 32 + 90000);
    expect(out[0].wallclock).toBe(ntpMs + 500);
    expect(rx.wallclock(ts0)).toBe(ntpMs - 1500);
  });

  it('GStreamer shared stream: timestamps back to the first value (-1.5 s) are re-based by arrival, wall clock continuous', () => {
    const c = clock(1000);
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false, now: c.now });
    const out: ReceivedPacket[] = [];
    const t0 = 333735543;
    let seq = 10;
    // 23 frames at 15 fps (6000 ticks, 66.7 ms), two packets each
    for (let f = 0; f < 23; f++, c.t += 1000 / 15) for (let k = 0; k < 2; k++) out.push(...rx.pushRtp(rtp(seq++, t0 + f * 6000)));
    // another client joined: the next frame is stamped with the first frame's timestamp again
    for (let f = 0; f < 5; f++, c.t += 1000 / 15) for (let k = 0; k < 2; k++) out.push(...rx.pushRtp(rtp(seq++, t0 + f * 6000)));
    const ts = out.filter((_, i) => i % 2 === 0).map((p) => p.extTimestamp - t0);
    expect(ts.slice(20, 26)).toEqual([120000, 126000, 132000, 138000, 144000, 150000]);
    expect(out.every((p, i) => i % 2 === 0 || p.extTimestamp === out[i - 1]!.extTimestamp)).toBe(true);
    expect(rx.stats.timestampJumps).toBe(1);
    const wall = out.filter((_, i) => i % 2 === 0).map((p) => p.wallclock);
    for (let i = 1; i < wall.length; i++) expect(wall[i]! - wall[i - 1]!).toBeCloseTo(1000 / 15, 0);
  });

  it('keeps B-frame steps and network stalls; re-bases a jump forward past real time, and a new SSRC', () => {
    const c = clock(0);
    const rx = new RtpReceiver({ clockRate: 90000, reorder: false, now: c.now });
    const push = (seq: number, ts: number, ssrc = 0x1234) => rx.pushRtp(rtp(seq, ts, ssrc))[0]!.extTimestamp;
    // I0 P3 B1 B2 P6 B4 B5 at 10 fps: steps of up to -0.2 s are reordering
    const order = [0, 3, 1, 2, 6, 4, 5];
    expect(order.map((f, i) => ((c.t += 100), push(i, f * 9000)))).toEqual(order.map((f) => f * 9000));
    // a 3 s stall, then the backlog at once: media time behind arrival is no jump
    c.t += 3000;
    expect(push(7, 7 * 9000)).toBe(63000);
    expect(push(8, 8 * 9000)).toBe(72000);
    // a sender that starts with 5 s of cached GOP at once: still no jump
    expect(push(9, 8 * 9000 + 450000)).toBe(522000);
    expect(rx.stats.timestampJumps).toBe(0);
    // a clock that leaps an hour ahead: continues 40 ms on
    c.t += 40;
    expect(push(10, 522000 + 3600 * 90000)).toBe(522000 + 3600);
    expect(push(11, 522000 + 3600 * 90000 + 9000)).toBe(522000 + 3600 + 9000);
    // the camera restarts: new SSRC, new sequence, random timestamps (2 packets confirm the source)
    c.t += 500;
    rx.pushRtp(rtp(5000, 17, 0x9999));
    const next = rx.pushRtp(rtp(5001, 9017, 0x9999));
    expect(next.map((p) => p.extTimestamp)).toEqual([534600 + 45000, 534600 + 45000 + 9000]);
    expect(rx.stats.timestampJumps).toBe(2);
  });
});
