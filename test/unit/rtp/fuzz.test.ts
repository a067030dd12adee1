import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parseRtpPacket, serializeRtpPacket } from '../../../src/rtp/packet.ts';
import { parseRtcp, buildReceiverReport, buildSenderReport } from '../../../src/rtp/rtcp.ts';
import { RtpReceiver } from '../../../src/rtp/receiver.ts';

const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

describe('fuzz: RTP/RTCP parsers never throw', () => {
  it('parseRtpPacket on arbitrary bytes; valid results stay inside the input', () => {
    fc.assert(
      fc.property(bytes, (buf) => {
        const r = parseRtpPacket(buf);
        if (r.ok) {
          expect(r.value.version).toBe(2);
          expect(r.value.payload.length).toBeLessThanOrEqual(buf.length - 12);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('parseRtpPacket on arbitrary bytes behind a valid first octet', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x3f }), bytes, (b0, rest) => {
        parseRtpPacket(Buffer.concat([Buffer.from([0x80 | b0]), rest]));
      }),
      { numRuns: 3000 },
    );
  });

  it('parseRtcp on arbitrary bytes and on corrupted real compounds', () => {
    const real = Buffer.concat([
      buildSenderReport({ ssrc: 1, ntpMs: 1.7e12, rtpTime: 5, packetCount: 6, octetCount: 7, cname: 'x' }),
      buildReceiverReport(2, [{ ssrc: 1, fractionLost: 1, cumulativeLost: 2, highestSeq: 3, jitter: 4, lsr: 5, dlsr: 6 }]),
    ]);
    fc.assert(
      fc.property(bytes, (buf) => {
        const r = parseRtcp(buf);
        expect(Array.isArray(r.packets) && Array.isArray(r.errors)).toBe(true);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(real.length), (edits, cut) => {
        const b = Buffer.from(real);
        for (const [i, v] of edits) b[i] = v;
        parseRtcp(b.subarray(0, cut));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('fuzz: RtpReceiver', () => {
  it('never throws and never holds more than the window, with random seq/ts/ssrc/time', () => {
    const op = fc.record({
      seq: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: -3, max: 5 })),
      ts: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      ssrc: fc.constantFrom(1, 2, 0xffffffff),
      dt: fc.integer({ min: 0, max: 80 }),
      garbage: fc.boolean(),
      flush: fc.constantFrom(0, 0, 0, 1, 2),
      sr: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 1, max: 16 }), fc.array(op, { maxLength: 300 }), (reorder, window, ops) => {
        let t = 0;
        let base = 0;
        const rx = new RtpReceiver({ clockRate: 90000, reorder, reorderWindow: window, reorderTimeoutMs: 50, now: () => t });
        for (const o of ops) {
          t += o.dt;
          // mostly near-sequential, sometimes far: exercises reorder, loss, wrap and resync paths
          base = o.seq < 0 || o.seq > 5 ? (o.seq < 0 ? base + o.seq : o.seq) : base + o.seq;
          const buf = o.garbage
            ? Buffer.from([0x80, 0x60, 1])
            : serializeRtpPacket({ marker: false, payloadType: 96, sequenceNumber: base & 0xffff, timestamp: o.ts, ssrc: o.ssrc, payload: Buffer.alloc(4) });
          const out = rx.pushRtp(buf);
          for (const p of out) expect(Number.isFinite(p.extTimestamp) && Number.isFinite(p.wallclock)).toBe(true);
          if (o.flush) rx.flush(o.flush === 2);
          if (o.sr) rx.handleSenderReport({ type: 'SR', ssrc: o.ssrc, ntpTime: 0n, ntpMs: 0, rtpTime: o.ts, packetCount: 0, octetCount: 0, reports: [] });
          expect(rx.buffered).toBeLessThanOrEqual(window);
        }
        const st = rx.stats;
        expect(Number.isFinite(st.jitter) && Number.isFinite(st.lossPercent)).toBe(true);
        rx.reportBlock();
      }),
      { numRuns: 500 },
    );
  });

  it('delivers every packet exactly once, in order, under random UDP reordering', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 50, maxLength: 200 }), (start, jitter) => {
        // local shuffles of a sequential stream: each packet delayed by 0..5 slots
        const n = jitter.length;
        const order = jitter.map((d, i) => ({ i, key: i + d })).sort((a, b) => a.key - b.key || a.i - b.i).map((x) => x.i);
        const rx = new RtpReceiver({ clockRate: 90000, reorder: true, reorderWindow: 64, now: () => 0 });
        const exts: number[] = [];
        for (const i of order) for (const p of rx.pushRtp(serializeRtpPacket({ marker: false, payloadType: 96, sequenceNumber: (start + i) & 0xffff, timestamp: i * 3000, ssrc: 5, payload: Buffer.alloc(1) }))) exts.push(p.extSeq);
        for (const p of rx.flush(true)) exts.push(p.extSeq);
        // the first arrival defines the start; anything earlier that arrives later is too late by design
        const first = order[0];
        const got = exts.map((e) => e - exts[0] + first);
        expect(got).toEqual(Array.from({ length: n - first }, (_, k) => first + k));
        expect(rx.stats.packetsLost).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
