/**
 * Annex-B byte streams (ITU-T H.264/H.265 Annex B): NAL units separated by 00 00 01 or 00 00 00 01.
 */

const START_CODE_3 = Buffer.from([0, 0, 1]);

/** Index of the next 00 00 01 at or after `from`, or -1 (a native search: this runs on every NAL). */
function findStartCode(buf: Buffer, from: number): number {
  return from + 2 < buf.length ? buf.indexOf(START_CODE_3, from) : -1;
}

/** True if the buffer contains a 3-byte start code anywhere. */
export function hasStartCode(buf: Buffer, from = 0): boolean {
  return findStartCode(buf, from) >= 0;
}

/**
 * Splits an Annex-B stream into NAL units without start codes. Bytes before the first start code
 * count as a NAL unit (a payload that carries a NAL followed by Annex-B separated ones). Zero bytes
 * before a start code (the leading zero of a 4-byte code, trailing_zero_8bits) are stripped: a NAL
 * unit never ends in 0x00 (H.264 7.4.1). Empty units are skipped. Returns subarrays, no copies.
 */
export function splitAnnexB(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const sc = findStartCode(buf, start);
    let end = sc < 0 ? buf.length : sc;
    while (end > start && buf[end - 1] === 0) end--;
    if (end > start) out.push(buf.subarray(start, end));
    if (sc < 0) break;
    start = sc + 3;
  }
  return out;
}

const START_CODE = Buffer.from([0, 0, 0, 1]);

/** Joins NAL units into an Annex-B stream with 4-byte start codes. */
export function joinAnnexB(nalus: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const n of nalus) parts.push(START_CODE, n);
  return Buffer.concat(parts);
}

/** Joins NAL units with 4-byte big-endian length prefixes (AVCC/HVCC sample data, ISO/IEC 14496-15). */
export function toLengthPrefixed(nalus: Buffer[], size: 4 = 4): Buffer {
  let total = 0;
  for (const n of nalus) total += size + n.length;
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const n of nalus) {
    out.writeUInt32BE(n.length, o);
    o += size;
    n.copy(out, o);
    o += n.length;
  }
  return out;
}
