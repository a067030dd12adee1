import { readFileSync } from 'node:fs';

/**
 * Reads a capture framed as RFC 4571 (each RTP packet preceded by a 16-bit big-endian length),
 * as written by GStreamer's `rtpstreampay ! filesink`. A truncated final record is ignored.
 */
export function readRfc4571(file: string): Buffer[] {
  const buf = readFileSync(file);
  const out: Buffer[] = [];
  let off = 0;
  while (off + 2 <= buf.length) {
    const len = buf.readUInt16BE(off);
    off += 2;
    if (off + len > buf.length) break;
    out.push(buf.subarray(off, off + len));
    off += len;
  }
  return out;
}
