import type { CodecParams, Depacketizer, DepacketizerStats, Frame, RtpPacketIn } from '../types.ts';
import type { DepacketizerInit } from '../aac/fmtp.ts';
import { buildJpegHeader, type QuantTable } from './jpeg-header.ts';
import { scaledQuantTables } from './tables.ts';

export type { DepacketizerInit } from '../aac/fmtp.ts';
export { buildJpegHeader, type JpegHeaderParams, type QuantTable } from './jpeg-header.ts';
export { scaledQuantTables, STANDARD_HUFFMAN_TABLES, ZIGZAG } from './tables.ts';

/** Most scan bytes buffered for one frame; beyond this the frame is dropped (a 4K JPEG is ~1–2 MB). */
export const MJPEG_MAX_FRAME_BYTES = 8 * 1024 * 1024;
/** RFC 2435 §3.1.6: width and height are in 8-pixel units in one byte, so 2040 is the largest expressible. */
const MAX_RTP_JPEG_DIMENSION = 2040;

interface PendingFrame {
  timestamp: number;
  type: 0 | 1;
  restartInterval: number;
  width: number;
  height: number;
  tables: QuantTable[];
  parts: Buffer[];
  /** Scan bytes received so far == the fragment offset the next packet must carry. */
  have: number;
}

/**
 * RFC 2435 (RTP/JPEG) depacketizer. Reassembles a frame's scan data by fragment offset and rebuilds
 * a complete baseline JPEG (SOI, DQT, SOF, DHT, [DRI], SOS, scan, EOI) for each frame.
 */
export class MjpegDepacketizer implements Depacketizer {
  readonly codec = 'MJPEG' as const;
  readonly clockRate: number;
  readonly stats: DepacketizerStats = { framesOut: 0, framesDropped: 0, errors: 0 };

  private readonly dimensions: { width: number; height: number } | undefined;
  private frame: PendingFrame | undefined;
  /** Q 128..254: tables are sent once and may be omitted afterwards, so remember them per Q (RFC 2435 §4.2). */
  private readonly inbandTables = new Map<number, QuantTable[]>();
  /** Q 1..99: scaled standard tables, computed once per Q. */
  private readonly scaledTables = new Map<number, QuantTable[]>();
  private width: number | undefined;
  private height: number | undefined;

  constructor(init: DepacketizerInit) {
    this.clockRate = init.clockRate > 0 ? init.clockRate : 90000;
    const d = init.dimensions;
    if (d && Number.isInteger(d.width) && Number.isInteger(d.height) && d.width > 0 && d.height > 0 && d.width <= 65535 && d.height <= 65535) {
      this.dimensions = { width: d.width, height: d.height };
    }
  }

  params(): CodecParams {
    const w = this.width ?? this.dimensions?.width;
    const h = this.height ?? this.dimensions?.height;
    return { ...(w !== undefined ? { width: w } : {}), ...(h !== undefined ? { height: h } : {}) };
  }

  push(pkt: RtpPacketIn, lostBefore: boolean): Frame[] {
    try {
      return this.pushInner(pkt, lostBefore);
    } catch (e) {
      this.fail(`internal: ${(e as Error).message}`);
      this.dropFrame();
      return [];
    }
  }

  private pushInner(pkt: RtpPacketIn, lostBefore: boolean): Frame[] {
    if (lostBefore) this.dropFrame();
    // A new timestamp with a frame still open: its last packet (marker) was lost.
    if (this.frame && pkt.timestamp !== this.frame.timestamp) this.dropFrame();

    const p = pkt.payload;
    if (p.length < 8) {
      this.fail('RTP/JPEG payload shorter than its 8-byte main header');
      this.dropFrame();
      return [];
    }
    const fragmentOffset = p.readUIntBE(1, 3);
    const rtpType = p[4]!;
    const q = p[5]!;
    let off = 8;
    let restartInterval = 0;
    // Types 64..127 carry a restart marker header after the main header in every packet (§3.1.7).
    if (rtpType >= 64 && rtpType <= 127) {
      if (p.length < off + 4) {
        this.fail('restart marker header truncated');
        this.dropFrame();
        return [];
      }
      restartInterval = p.readUInt16BE(off);
      off += 4;
    }
    const baseType = rtpType & 0x3f;
    if (rtpType > 127 || baseType > 1) {
      // Types 2..63 are vendor-defined with no published layout; we can't build a header for them.
      this.fail(`unsupported RTP/JPEG type ${rtpType}`);
      this.dropFrame();
      return [];
    }

    if (fragmentOffset === 0) {
      if (this.frame) this.dropFrame(); // restarted frame with the same timestamp
      let tables: QuantTable[] | undefined;
      if (q >= 128) {
        // Quantization table header, first packet of a frame only (§3.1.8).
        if (p.length < off + 4) return this.reject('quantization table header truncated');
        const precision = p[off + 1]!;
        const length = p.readUInt16BE(off + 2);
        off += 4;
        if (length > 0) {
          if (p.length < off + length) return this.reject(`quantization table length ${length} exceeds the packet`);
          tables = splitQuantTables(p.subarray(off, off + length), precision);
          off += length;
          if (!tables) return this.reject(`quantization table length ${length} holds no whole table`);
          if (q < 255) this.inbandTables.set(q, tables);
        } else if (q < 255) {
          tables = this.inbandTables.get(q);
          if (!tables) return this.reject(`Q=${q} without tables and none cached yet`);
        } else {
          return this.reject('Q=255 without in-band tables');
        }
      } else if (q >= 1 && q <= 99) {
        tables = this.scaledTables.get(q);
        if (!tables) {
          const both = scaledQuantTables(q);
          tables = [
            { precision: 0, data: both.subarray(0, 64) },
            { precision: 0, data: both.subarray(64) },
          ];
          this.scaledTables.set(q, tables);
        }
      } else {
        return this.reject(`reserved Q value ${q}`);
      }

      const width = this.dimension(p[6]!, this.dimensions?.width);
      const height = this.dimension(p[7]!, this.dimensions?.height);
      if (width === 0 || height === 0) return this.reject('zero width or height');
      this.frame = { timestamp: pkt.timestamp, type: baseType as 0 | 1, restartInterval, width, height, tables, parts: [], have: 0 };
    } else if (!this.frame) {
      // Middle of a frame whose start we never saw (or dropped): wait for the next fragment offset 0.
      return [];
    } else if (fragmentOffset !== this.frame.have) {
      this.fail(`fragment offset ${fragmentOffset}, expected ${this.frame.have}`);
      this.dropFrame();
      return [];
    }

    const f = this.frame;
    const chunk = p.subarray(off);
    if (f.have + chunk.length > MJPEG_MAX_FRAME_BYTES) {
      this.fail('JPEG frame exceeds the reassembly cap');
      this.dropFrame();
      return [];
    }
    f.parts.push(chunk);
    f.have += chunk.length;
    if (!pkt.marker) return [];

    this.frame = undefined;
    const header = buildJpegHeader({ type: f.type, width: f.width, height: f.height, tables: f.tables, restartInterval: f.restartInterval });
    const scan = Buffer.concat(f.parts, f.have);
    // Some cameras already end the scan with EOI (go2rtc, QUIRKS Q39): append it only when missing.
    const hasEoi = scan.length >= 2 && scan[scan.length - 2] === 0xff && scan[scan.length - 1] === 0xd9;
    const jpeg = Buffer.concat(hasEoi ? [header, scan] : [header, scan, Buffer.from([0xff, 0xd9])]);
    this.width = f.width;
    this.height = f.height;
    this.stats.framesOut++;
    return [{ timestamp: f.timestamp, keyframe: true, data: [jpeg] }];
  }

  /**
   * Width or height from the 8-pixel-unit byte. Above 2040 px the byte overflows (2560 → 64, 0 for
   * 2048): take the SDP size instead when it agrees modulo 2048 (go2rtc@c97a48a7, QUIRKS Q39).
   */
  private dimension(units: number, sdp: number | undefined): number {
    const px = units * 8;
    if (sdp !== undefined && sdp > MAX_RTP_JPEG_DIMENSION && sdp % 2048 === px) return sdp;
    return px;
  }

  private reject(msg: string): Frame[] {
    this.fail(msg);
    this.stats.framesDropped++;
    this.frame = undefined;
    return [];
  }

  private dropFrame(): void {
    if (this.frame) {
      this.stats.framesDropped++;
      this.frame = undefined;
    }
  }

  private fail(msg: string): void {
    this.stats.errors++;
    this.stats.lastError = msg;
  }
}

/**
 * Splits in-band table data: table i is 128 bytes (16-bit) if bit i of `precision` is set, else 64.
 * Returns undefined if not even one whole table is present.
 */
function splitQuantTables(data: Buffer, precision: number): QuantTable[] | undefined {
  const tables: QuantTable[] = [];
  let off = 0;
  for (let i = 0; i < 4; i++) {
    const wide = (precision >> i) & 1;
    const size = wide ? 128 : 64;
    if (off + size > data.length) break;
    tables.push({ precision: wide as 0 | 1, data: Buffer.from(data.subarray(off, off + size)) });
    off += size;
  }
  return tables.length > 0 ? tables : undefined;
}
