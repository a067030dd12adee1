/**
 * ISO BMFF (ISO/IEC 14496-12) box writing and reading primitives. Boxes are built bottom-up from
 * Buffers: a box is its 32-bit size, its four-character type and its payload, so a parent is just
 * `box(type, ...children)`. Only what HLS fMP4 needs; no 64-bit box sizes (nothing here is > 4 GiB).
 */

export function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

export function u24(n: number): Buffer {
  return Buffer.from([(n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(n))));
  return b;
}

export function fourcc(s: string): Buffer {
  if (s.length !== 4) throw new Error(`box type must be 4 characters: ${s}`);
  return Buffer.from(s, 'latin1');
}

/** A box: size(32) type(32) payload. */
export function box(type: string, ...payload: Buffer[]): Buffer {
  let size = 8;
  for (const p of payload) size += p.length;
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...payload], size);
}

/** A FullBox: a box whose payload starts with version(8) and flags(24). */
export function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  return box(type, u8(version), u24(flags), ...payload);
}

/** The identity transformation matrix of mvhd/tkhd (16.16 and 2.30 fixed point). */
export const UNITY_MATRIX = Buffer.from([
  0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x00, 0x00, 0x00,
]);

/** A parsed box header, for reading back our own output (codec strings, tests). */
export interface BoxRef {
  type: string;
  /** Offset of the box's first byte in the buffer. */
  start: number;
  /** Offset of the payload (after size and type). */
  payload: number;
  end: number;
}

/** The boxes in buf[from, to), in order. Stops at a malformed size instead of throwing. */
export function readBoxes(buf: Buffer, from = 0, to = buf.length): BoxRef[] {
  const out: BoxRef[] = [];
  let off = from;
  while (off + 8 <= to) {
    const size = buf.readUInt32BE(off);
    if (size < 8 || off + size > to) break;
    out.push({ type: buf.toString('latin1', off + 4, off + 8), start: off, payload: off + 8, end: off + size });
    off += size;
  }
  return out;
}

/** The first box at the given path of types below buf[from, to), e.g. ['moov','trak']. */
export function findBox(buf: Buffer, path: string[], from = 0, to = buf.length): BoxRef | undefined {
  let range: BoxRef | undefined;
  let lo = from;
  let hi = to;
  for (const t of path) {
    range = readBoxes(buf, lo, hi).find((b) => b.type === t);
    if (!range) return undefined;
    lo = range.payload;
    hi = range.end;
  }
  return range;
}
