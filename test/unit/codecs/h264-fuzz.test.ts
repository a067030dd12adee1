// Property tests: random RTP payloads into both depacketizers never throw and stay bounded.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { H264Depacketizer, MAX_AU_BYTES, parseH264Sps } from '../../../src/codecs/h264/index.ts';
import { H265Depacketizer, parseH265Sps } from '../../../src/codecs/h265/index.ts';
import { splitAnnexB } from '../../../src/codecs/annexb.ts';

/** A payload that starts like a plausible H.264 packet: a chosen NAL/FU/STAP header then random bytes. */
const h264Payload = fc.oneof(
  fc.uint8Array({ maxLength: 1500 }),
  fc.tuple(fc.constantFrom(0, 1, 5, 6, 7, 8, 9, 24, 25, 26, 28, 29, 30, 31), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 1500 }))
    .map(([t, h, rest]) => Uint8Array.from([0x60 | t, h, ...rest])),
  fc.tuple(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), fc.boolean()).map(([nals, lie]) => {
    const parts: number[] = [24];
    for (const n of nals) parts.push(0, lie ? n.length + 7 : n.length, ...n);
    return Uint8Array.from(parts);
  }),
);

const h265Payload = fc.oneof(
  fc.uint8Array({ maxLength: 1500 }),
  fc.tuple(fc.constantFrom(1, 19, 32, 33, 34, 35, 39, 48, 49, 50, 63), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 1500 }))
    .map(([t, h, rest]) => Uint8Array.from([t << 1, 1, h, ...rest])),
);

const packets = (payload: fc.Arbitrary<Uint8Array>) =>
  fc.array(
    fc.record({
      payload,
      marker: fc.boolean(),
      tsStep: fc.constantFrom(0, 0, 0, 3000),
      lost: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
    { maxLength: 60 },
  );

describe('fuzz: depacketizers never throw and stay bounded', () => {
  for (const [name, make, payload] of [
    ['H264', (fmtp: Record<string, string>) => new H264Depacketizer({ clockRate: 90000, fmtp }), h264Payload],
    ['H265', (fmtp: Record<string, string>) => new H265Depacketizer({ clockRate: 90000, fmtp }), h265Payload],
  ] as const) {
    it(name, () => {
      fc.assert(
        fc.property(packets(payload), fc.boolean(), fc.string(), (pkts, donl, sprop) => {
          const d = make({ 'sprop-max-don-diff': donl ? '1' : '0', 'sprop-parameter-sets': sprop, 'sprop-sps': sprop });
          let ts = 0;
          let frames = 0;
          pkts.forEach((p, i) => {
            ts += p.tsStep;
            const out = d.push({ payloadType: 96, sequenceNumber: i, timestamp: ts, marker: p.marker, payload: Buffer.from(p.payload) }, p.lost);
            for (const f of out) {
              expect(f.data.every((n) => Buffer.isBuffer(n) && n.length > 0)).toBe(true);
              frames++;
            }
            expect(d.bufferedBytes).toBeLessThanOrEqual(MAX_AU_BYTES);
            // push() catches internal exceptions as a last resort; none should happen.
            expect(d.stats.lastError ?? '').not.toMatch(/^internal/);
          });
          expect(d.stats.framesOut).toBe(frames);
          d.params();
        }),
        { numRuns: 300 },
      );
    });
  }

  it('SPS parsers and splitAnnexB never throw on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const b = Buffer.from(bytes);
        parseH264Sps(Buffer.concat([Buffer.from([0x67]), b]));
        parseH265Sps(Buffer.concat([Buffer.from([0x42, 0x01]), b]));
        const parts = splitAnnexB(b);
        expect(parts.reduce((s, p) => s + p.length, 0)).toBeLessThanOrEqual(b.length);
      }),
      { numRuns: 2000 },
    );
  });
});
