import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { negotiate, negotiateBundle, NegotiationError, type BundleEntry } from '../../../src/webrtc/negotiate.ts';
import type { TrackInfo } from '../../../src/stream/types.ts';
import { chromeOffer } from './offers.ts';

const h264: TrackInfo = { id: 0, kind: 'video', codec: 'H264', clockRate: 90000, params: { sps: Buffer.from([0x67, 0x64, 0x00, 0x1f]) } };
const aac: TrackInfo = { id: 1, kind: 'audio', codec: 'AAC', clockRate: 48000, params: {} };

/** Only a NegotiationError (400/422) may come out: the WHEP route turns it into the status. */
function onlyNegotiationErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NegotiationError);
    expect([400, 422]).toContain((e as NegotiationError).status);
  }
}

/** An offer with lines dropped, duplicated or replaced by junk. */
const mangledOffer = fc
  .tuple(fc.integer({ min: 1, max: 6 }), fc.array(fc.tuple(fc.nat(), fc.constantFrom('drop', 'dup', 'junk', 'swap')), { maxLength: 8 }), fc.string({ maxLength: 40 }))
  .map(([videos, edits, junk]) => {
    const lines = chromeOffer({ videos }).split('\r\n');
    for (const [at, op] of edits) {
      const i = at % lines.length;
      if (op === 'drop') lines.splice(i, 1);
      else if (op === 'dup') lines.splice(i, 0, lines[i]!);
      else if (op === 'junk') lines[i] = junk;
      else lines[i] = lines[i]!.replace(/\d+/, String(at));
    }
    return lines.join('\r\n');
  });

const entries = fc.array(
  fc.oneof(
    fc.constant<BundleEntry>({ stream: 'a', tracks: [h264, aac] }),
    fc.constant<BundleEntry>({ stream: 'b', reason: 'not streaming' }),
    fc.constant<BundleEntry>({ stream: 'c', tracks: [] }),
    fc.constant<BundleEntry>({ stream: 'd', tracks: [aac] }),
  ),
  { minLength: 1, maxLength: 8 },
);

describe('fuzz: WHEP offer negotiation never throws anything but a 400/422', () => {
  it('single stream: mangled offers and arbitrary strings', () => {
    fc.assert(fc.property(fc.oneof(mangledOffer, fc.string({ maxLength: 500 })), (offer) => onlyNegotiationErrors(() => negotiate({ offer, tracks: [h264, aac], audioMode: 'auto', canTranscode: true }))), { numRuns: 1000 });
  });

  it('bundles: mangled offers with any mix of entries; every plan names a stream and a video section', () => {
    fc.assert(
      fc.property(fc.oneof(mangledOffer, fc.string({ maxLength: 500 })), entries, (offer, list) =>
        onlyNegotiationErrors(() => {
          const n = negotiateBundle(offer, list);
          expect(n.refused.length).toBeGreaterThanOrEqual(list.length);
          for (const p of n.plans) {
            expect(p.kind).toBe('video');
            expect(list[p.mLine]?.stream).toBe(p.stream);
            expect(n.refused[p.mLine]).toBeUndefined();
          }
        }),
      ),
      { numRuns: 1000 },
    );
  });
});
