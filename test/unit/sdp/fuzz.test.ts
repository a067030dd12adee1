import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseSdp, isBackchannel } from '../../../src/sdp/index.ts';

const dir = fileURLToPath(new URL('../../fixtures/sdp/', import.meta.url));
const corpus = readdirSync(dir)
  .filter((f) => f.endsWith('.txt') && f !== 'LICENSE-MIT.txt')
  .map((f) => readFileSync(dir + f, 'latin1'));

function check(input: string | Buffer): void {
  const r = parseSdp(input);
  if (!r.ok) return;
  for (const m of r.value.medias) {
    expect(m.payloadTypes).toContain(m.payloadType);
    expect(m.clockRate).toBeGreaterThan(0);
    expect(m.encoding).toBe(m.encoding.toUpperCase());
    isBackchannel(m, r.value);
  }
  expect(r.value.skipped.length).toBeLessThanOrEqual(50);
}

describe('fuzz: parseSdp never throws', () => {
  it('arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 2000 }), check), { numRuns: 2000 });
  });

  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (a) => check(Buffer.from(a))), { numRuns: 2000 });
  });

  it('SDP-shaped lines in random order', () => {
    const line = fc.oneof(
      fc.constantFrom('v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=x', 't=0 0', 'c=IN', 'c=IN IP4 239.0.0.1/5', 'a=sendonly', 'a=recvonly', 'a=control:*', 'a=fmtp:96',
        'a=sendonlym=audio 0 RTP/AVP 0', 'm=application/TP-LINK 0 RTP/AVP smart/1/90000', 'a=framesize:96 0-0', 'a=cliprect:9,9,0,0', 'b=RR:0', '  '),
      fc.tuple(fc.constantFrom('m=video ', 'm=audio ', 'm=x '), fc.array(fc.integer({ min: -1, max: 300 }), { maxLength: 4 })).map(([p, pts]) => `${p}0 RTP/AVP ${pts.join(' ')}`),
      fc.tuple(fc.integer({ min: 0, max: 300 }), fc.constantFrom('H264', 'opus', 'PCMA', '', 'x'), fc.string({ maxLength: 12 })).map(([pt, n, r]) => `a=rtpmap:${pt} ${n}/${r}`),
      fc.tuple(fc.integer({ min: 0, max: 300 }), fc.string({ maxLength: 40 })).map(([pt, s]) => `a=fmtp:${pt} ${s}`),
      fc.string({ maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), fc.constantFrom('\r\n', '\n', '\r', ''), (lines, eol) => check(lines.join(eol))),
      { numRuns: 2000 },
    );
  });

  it('corpus SDPs with random byte edits and truncation', () => {
    fc.assert(
      fc.property(
        fc.nat(corpus.length - 1),
        fc.array(fc.tuple(fc.nat(2000), fc.integer({ min: 0, max: 255 })), { maxLength: 10 }),
        fc.nat(2000),
        (idx, edits, cut) => {
          const b = Buffer.from(corpus[idx], 'latin1');
          for (const [i, v] of edits) if (i < b.length) b[i] = v;
          check(b.subarray(0, cut));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a very large input is bounded', () => {
    const glued = parseSdp('m=video 0 RTP/AVP 26\n' + 'a=sendonly'.repeat(1600) + '\n' + 'a=sendonlym=video 0 RTP/AVP 26'.repeat(500) + '\n' + 'x\n'.repeat(50_000));
    expect(glued.ok).toBe(true);
    if (glued.ok) expect(glued.value.skipped.length).toBeLessThanOrEqual(50);
    // past 256 KiB the text is cut: the m= line at the very end is never seen
    const huge = parseSdp('x'.repeat(300_000) + '\nm=video 0 RTP/AVP 26\n');
    expect(huge.ok).toBe(false);
  });
});
