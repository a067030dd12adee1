import type { RtpPayload } from '../payload.ts';
import { DEFAULT_RTP_PAYLOAD } from '../payload.ts';
import { err, ok, type Result } from '../../util/result.ts';

/** What RFC 2435 needs from a baseline JPEG: geometry, sampling type, tables, restart interval, scan. */
export interface JpegForRtp {
  /** RFC 2435 type: 0 = 4:2:2 (Y 2×1), 1 = 4:2:0 (Y 2×2); +64 when restart markers are used. */
  type: number;
  width: number;
  height: number;
  /** Quantization tables (luma, chroma) as the DQT stores them: zigzag order, 8- or 16-bit. */
  tables: { precision: 0 | 1; data: Buffer }[];
  restartInterval: number;
  /** Entropy-coded scan data, without the SOS header and without EOI. */
  scan: Buffer;
}

/**
 * Reads the parts of a JPEG that RTP/JPEG carries (RFC 2435 §3.1). Only what RFC 2435 can express is
 * accepted: baseline or extended sequential Huffman, 3 components, Y sampled 2×1 or 2×2, chroma 1×1.
 * Huffman tables are not carried: the receiver assumes the standard ones (Annex K), as every
 * RTP/JPEG sender does.
 */
export function parseJpegForRtp(jpeg: Buffer): Result<JpegForRtp> {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return err('not a JPEG (no SOI)');
  const dqt = new Map<number, { precision: 0 | 1; data: Buffer }>();
  let width = 0;
  let height = 0;
  let type = -1;
  let qIds: number[] = [];
  let restartInterval = 0;
  let off = 2;
  while (off + 4 <= jpeg.length) {
    if (jpeg[off] !== 0xff) return err(`JPEG marker expected at ${off}`);
    const marker = jpeg[off + 1]!;
    if (marker === 0xff) {
      off++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      off += 2;
      continue;
    }
    if (marker === 0xd9) return err('EOI before SOS');
    const len = jpeg.readUInt16BE(off + 2);
    const body = off + 4;
    const end = off + 2 + len;
    if (len < 2 || end > jpeg.length) return err(`JPEG segment 0x${marker.toString(16)} overruns the file`);
    switch (marker) {
      case 0xdb: {
        let p = body;
        while (p < end) {
          const pq = jpeg[p]! >> 4;
          const tq = jpeg[p]! & 0x0f;
          const size = pq ? 128 : 64;
          if (p + 1 + size > end || tq > 3) return err('malformed DQT');
          dqt.set(tq, { precision: pq ? 1 : 0, data: jpeg.subarray(p + 1, p + 1 + size) });
          p += 1 + size;
        }
        break;
      }
      case 0xc0:
      case 0xc1: {
        if (len < 8 + 3 * 3) return err('SOF too short');
        height = jpeg.readUInt16BE(body + 1);
        width = jpeg.readUInt16BE(body + 3);
        const comps = jpeg[body + 5]!;
        if (comps !== 3) return err(`JPEG with ${comps} components (RTP/JPEG needs 3)`);
        const ySampling = jpeg[body + 7]!;
        const cbSampling = jpeg[body + 10]!;
        const crSampling = jpeg[body + 13]!;
        if (cbSampling !== 0x11 || crSampling !== 0x11) return err('chroma subsampling RTP/JPEG cannot express');
        if (ySampling === 0x21) type = 0;
        else if (ySampling === 0x22) type = 1;
        else return err(`luma sampling 0x${ySampling.toString(16)} (RTP/JPEG carries only 4:2:2 and 4:2:0)`);
        qIds = [jpeg[body + 8]!, jpeg[body + 11]!];
        break;
      }
      case 0xc2:
      case 0xc3:
      case 0xc9:
      case 0xca:
      case 0xcb:
        return err('progressive, lossless or arithmetic JPEG (RTP/JPEG carries sequential Huffman only)');
      case 0xdd:
        if (len >= 4) restartInterval = jpeg.readUInt16BE(body);
        break;
      case 0xda: {
        if (type < 0) return err('SOS before SOF');
        let scanEnd = jpeg.length;
        // The scan runs to EOI; ignore anything a camera appends after it.
        const eoi = jpeg.lastIndexOf(Buffer.from([0xff, 0xd9]));
        if (eoi >= end) scanEnd = eoi;
        const tables: { precision: 0 | 1; data: Buffer }[] = [];
        for (const id of qIds[0] === qIds[1] ? [qIds[0]!] : qIds) {
          const t = dqt.get(id);
          if (!t) return err(`quantization table ${id} missing`);
          tables.push(t);
        }
        return ok({ type: restartInterval > 0 ? type + 64 : type, width, height, tables, restartInterval, scan: jpeg.subarray(end, scanEnd) });
      }
      default:
        break; // APPn, COM, DHT (standard tables assumed)
    }
    off = end;
  }
  return err('JPEG without SOS');
}

/**
 * RFC 2435 packetizer. Each frame goes with Q=255 and its quantization tables in the first packet
 * (§3.1.8), so a reader that joins at any frame can decode it and the tables may change per frame.
 */
export class MjpegPacketizer {
  private readonly mtu: number;
  /** Frames RTP/JPEG can't carry (see parseJpegForRtp), and the last reason. */
  dropped = 0;
  lastError: string | undefined;

  constructor(opts: { mtu?: number } = {}) {
    this.mtu = Math.max(opts.mtu ?? DEFAULT_RTP_PAYLOAD, 300);
  }

  packetize(data: Buffer[]): RtpPayload[] {
    const jpeg = data.length === 1 ? data[0]! : Buffer.concat(data);
    const r = parseJpegForRtp(jpeg);
    if (!r.ok) {
      this.dropped++;
      this.lastError = r.error;
      return [];
    }
    const j = r.value;
    const out: RtpPayload[] = [];
    // 8-pixel units in one byte: above 2040 px the value wraps; receivers take the SDP size then.
    const w8 = (Math.ceil(j.width / 8) & 0xff) as number;
    const h8 = (Math.ceil(j.height / 8) & 0xff) as number;
    let restart: Buffer | undefined;
    if (j.restartInterval > 0) {
      restart = Buffer.alloc(4);
      restart.writeUInt16BE(j.restartInterval, 0);
      // F=1, L=1, Restart Count 0x3FFF (§3.1.7): packets are not cut at restart intervals, so the
      // receiver must not try to decode intervals independently.
      restart.writeUInt16BE(0xffff, 2);
    }
    let qHeader: Buffer | undefined;
    {
      let precision = 0;
      j.tables.forEach((t, i) => (precision |= t.precision << i));
      const length = j.tables.reduce((n, t) => n + t.data.length, 0);
      qHeader = Buffer.alloc(4);
      qHeader[0] = 0; // MBZ
      qHeader[1] = precision;
      qHeader.writeUInt16BE(length, 2);
    }
    let offset = 0;
    const scan = j.scan;
    do {
      const main = Buffer.alloc(8);
      main[0] = 0; // type-specific
      main.writeUIntBE(offset, 1, 3);
      main[4] = j.type;
      main[5] = 255;
      main[6] = w8;
      main[7] = h8;
      const parts: Buffer[] = [main];
      let room = this.mtu - 8;
      if (restart) {
        parts.push(restart);
        room -= 4;
      }
      if (offset === 0) {
        parts.push(qHeader);
        room -= 4;
        for (const t of j.tables) {
          parts.push(t.data);
          room -= t.data.length;
        }
      }
      const chunk = scan.subarray(offset, offset + Math.max(room, 1));
      parts.push(chunk);
      offset += chunk.length;
      out.push({ parts, marker: offset >= scan.length });
    } while (offset < scan.length);
    return out;
  }
}
