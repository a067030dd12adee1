import { STANDARD_HUFFMAN_TABLES } from './tables.ts';

/** One quantization table as a DQT segment stores it: zigzag order, 8- or 16-bit entries. */
export interface QuantTable {
  /** 0: 8-bit entries (64 bytes); 1: 16-bit big-endian entries (128 bytes). */
  precision: 0 | 1;
  data: Buffer;
}

export interface JpegHeaderParams {
  /** RFC 2435 type with the restart bit removed: 0 = 4:2:2 (Y 2×1), 1 = 4:2:0 (Y 2×2). */
  type: 0 | 1;
  width: number;
  height: number;
  /** One table (used for all components) or two (luma, chroma). */
  tables: QuantTable[];
  /** DRI value; 0 = no restart markers. */
  restartInterval: number;
}

function segment(marker: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = 0xff;
  h[1] = marker;
  h.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([h, body]);
}

/**
 * Builds the JPEG interchange header (SOI … SOS) that RFC 2435 leaves implicit, in the spirit of its
 * Appendix B: the decoder gets the tables and frame geometry that the RTP header only names.
 */
export function buildJpegHeader(p: JpegHeaderParams): Buffer {
  const parts: Buffer[] = [Buffer.from([0xff, 0xd8])];

  const dqt: Buffer[] = [];
  p.tables.slice(0, 2).forEach((t, id) => dqt.push(Buffer.from([(t.precision << 4) | id]), t.data));
  parts.push(segment(0xdb, Buffer.concat(dqt)));

  // 16-bit quantization tables are not allowed in baseline: use SOF1 (extended sequential, Huffman).
  const sofMarker = p.tables.some((t) => t.precision === 1) ? 0xc1 : 0xc0;
  const chromaTable = p.tables.length > 1 ? 1 : 0;
  const sof = Buffer.alloc(15);
  sof[0] = 8; // sample precision
  sof.writeUInt16BE(p.height, 1);
  sof.writeUInt16BE(p.width, 3);
  sof[5] = 3; // components: Y, Cb, Cr
  sof.set([1, p.type === 0 ? 0x21 : 0x22, 0], 6);
  sof.set([2, 0x11, chromaTable], 9);
  sof.set([3, 0x11, chromaTable], 12);
  parts.push(segment(sofMarker, sof));

  const dht: Buffer[] = [];
  for (const t of STANDARD_HUFFMAN_TABLES) dht.push(Buffer.from([t.classAndId, ...t.bits, ...t.values]));
  parts.push(segment(0xc4, Buffer.concat(dht)));

  if (p.restartInterval > 0) {
    const dri = Buffer.alloc(2);
    dri.writeUInt16BE(p.restartInterval & 0xffff, 0);
    parts.push(segment(0xdd, dri));
  }

  // SOS: Y uses DC/AC tables 0, Cb and Cr tables 1; full spectral range, no successive approximation.
  parts.push(segment(0xda, Buffer.from([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])));
  return Buffer.concat(parts);
}
