import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MJPEG_MAX_FRAME_BYTES, MjpegDepacketizer, scaledQuantTables, STANDARD_HUFFMAN_TABLES } from '../../../src/codecs/mjpeg/index.ts';
import type { Frame } from '../../../src/codecs/types.ts';
import { FIXTURES, loadCapture, pkt, run, runAll } from './audio-mjpeg-helpers.ts';

interface Segment {
  marker: number;
  body: Buffer;
}

/** Splits a JPEG into its marker segments up to SOS, plus the entropy-coded scan (without EOI). */
function parseJpeg(buf: Buffer): { segments: Segment[]; scan: Buffer } {
  expect(buf.readUInt16BE(0)).toBe(0xffd8);
  const segments: Segment[] = [];
  let off = 2;
  for (;;) {
    expect(buf[off]).toBe(0xff);
    const marker = buf[off + 1]!;
    const len = buf.readUInt16BE(off + 2);
    segments.push({ marker, body: buf.subarray(off + 4, off + 2 + len) });
    off += 2 + len;
    if (marker === 0xda) break;
  }
  expect(buf.readUInt16BE(buf.length - 2)).toBe(0xffd9);
  return { segments, scan: buf.subarray(off, buf.length - 2) };
}

/** DQT tables (zigzag bytes) by table id. */
function dqtTables(segments: Segment[]): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const s of segments.filter((x) => x.marker === 0xdb)) {
    for (let o = 0; o < s.body.length; ) {
      const size = s.body[o]! >> 4 ? 128 : 64;
      out.set(s.body[o]! & 0x0f, s.body.subarray(o + 1, o + 1 + size));
      o += 1 + size;
    }
  }
  return out;
}

interface PacketizeOptions {
  scan: Buffer;
  type: number;
  q: number;
  widthByte: number;
  heightByte: number;
  /** Q >= 128: table bytes sent in the first packet (empty Buffer = length 0, i.e. "use cached"). */
  tables?: Buffer;
  restartInterval?: number;
  mtu?: number;
}

/** Test-side RFC 2435 packetizer (the harness packetizer QUIRKS Q39 asks for). */
function rfc2435Packets(o: PacketizeOptions): { payload: Buffer; marker: boolean }[] {
  const mtu = o.mtu ?? 400;
  const out: { payload: Buffer; marker: boolean }[] = [];
  for (let off = 0; off < o.scan.length || off === 0; ) {
    const main = Buffer.alloc(8);
    main.writeUIntBE(off, 1, 3);
    main[4] = o.type;
    main[5] = o.q;
    main[6] = o.widthByte;
    main[7] = o.heightByte;
    const parts: Buffer[] = [main];
    if (o.type >= 64) {
      const rst = Buffer.alloc(4);
      rst.writeUInt16BE(o.restartInterval ?? 0, 0);
      rst.writeUInt16BE(0xffff, 2); // F=1, L=1, count 0x3fff: "whole frame"
      parts.push(rst);
    }
    if (o.q >= 128 && off === 0) {
      const qh = Buffer.alloc(4);
      qh.writeUInt16BE(o.tables?.length ?? 0, 2);
      parts.push(qh, o.tables ?? Buffer.alloc(0));
    }
    const chunk = o.scan.subarray(off, off + mtu);
    parts.push(chunk);
    off += chunk.length;
    out.push({ payload: Buffer.concat(parts), marker: off >= o.scan.length });
    if (chunk.length === 0) break;
  }
  return out;
}

function pushAll(d: MjpegDepacketizer, packets: { payload: Buffer; marker: boolean }[], ts: number): Frame[] {
  return packets.flatMap((p) => d.push(pkt(ts, p.payload, p.marker), false));
}

function decodeGray(jpeg: Buffer): Buffer {
  const d = run('ffmpeg', ['-v', 'error', '-f', 'jpeg_pipe', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], jpeg);
  expect(d.code, d.stderr).toBe(0);
  return d.stdout;
}

function probeSize(jpeg: Buffer): string {
  const r = run('ffprobe', ['-v', 'error', '-f', 'jpeg_pipe', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', '-'], jpeg);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.toString().trim();
}

/**
 * Scan data of a flat mid-grey 4:2:0 image, hand-encoded: every block is DC diff 0 + EOB, which with the
 * standard Huffman tables is exactly 4 bytes per MCU. With `restart`, an RSTn marker follows every MCU.
 */
function greyScan(mcus: number, restart: boolean): Buffer {
  const mcu = Buffer.from([0x28, 0xa2, 0x8a, 0x00]);
  const parts: Buffer[] = [];
  for (let i = 0; i < mcus; i++) {
    parts.push(mcu);
    if (restart && i < mcus - 1) parts.push(Buffer.from([0xff, 0xd0 + (i % 8)]));
  }
  return Buffer.concat(parts);
}

const original = readFileSync(path.join(FIXTURES, 'smpte_q50.jpg'));
const origParsed = parseJpeg(original);
const origTables = dqtTables(origParsed.segments);

describe('MjpegDepacketizer (RFC 2435)', () => {
  for (const [name, count] of [
    ['mjpeg_q50', 3],
    ['mjpeg_q85', 2],
  ] as const) {
    it(`rebuilds JPEGs from the rtpjpegpay capture ${name} that ffmpeg decodes at 320x240`, () => {
      const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
      const frames = runAll(d, loadCapture(`${name}.rtp`));
      expect(frames.length).toBe(count);
      expect(d.stats.errors).toBe(0);
      expect(frames.every((f) => f.keyframe && f.data.length === 1)).toBe(true);
      for (const f of frames) expect(probeSize(f.data[0]!)).toBe('320,240');
      // The whole sequence as an MJPEG stream: ffmpeg decodes exactly that many 320x240 frames.
      const r = run('ffmpeg', ['-v', 'error', '-f', 'mjpeg', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], Buffer.concat(frames.map((f) => f.data[0]!)));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.length).toBe(count * 320 * 240);
      expect(d.params()).toEqual({ width: 320, height: 240 });
    });
  }

  it('Q=255 capture: the rebuilt first frame decodes to the same pixels as the JPEG jpegenc wrote', () => {
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const first = runAll(d, loadCapture('mjpeg_q50.rtp'))[0]!.data[0]!;
    expect(decodeGray(first)).toEqual(decodeGray(original));
  });

  it('Q=50: regenerates the standard scaled tables (RFC 2435 App. A) and the standard Huffman tables', () => {
    // libjpeg quality 50 = the Annex K tables unscaled, which is what RFC 2435 Q=50 means.
    expect(scaledQuantTables(50)).toEqual(Buffer.concat([origTables.get(0)!, origTables.get(1)!]));
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const out = pushAll(d, rfc2435Packets({ scan: origParsed.scan, type: 1, q: 50, widthByte: 40, heightByte: 30 }), 3000);
    expect(out.length).toBe(1);
    expect(out[0]!.timestamp).toBe(3000);
    const rebuilt = out[0]!.data[0]!;
    expect(decodeGray(rebuilt)).toEqual(decodeGray(original));
    // Our DHT carries the same code tables as jpegenc's (which uses the T.81 Annex K ones).
    const dht = (segs: Segment[]) => {
      const m = new Map<number, string>();
      for (const s of segs.filter((x) => x.marker === 0xc4)) {
        for (let o = 0; o < s.body.length; ) {
          const n = [...s.body.subarray(o + 1, o + 17)].reduce((a, b) => a + b, 0);
          m.set(s.body[o]!, s.body.subarray(o, o + 17 + n).toString('hex'));
          o += 17 + n;
        }
      }
      return m;
    };
    expect(dht(parseJpeg(rebuilt).segments)).toEqual(dht(origParsed.segments));
    expect(STANDARD_HUFFMAN_TABLES.every((t) => t.bits.reduce((a, b) => a + b, 0) === t.values.length)).toBe(true);
    // Q=10 scales differently from Q=50 (5000/Q branch) and still decodes.
    expect(scaledQuantTables(10)[0]).toBe(80); // 16 × 500 / 100
    expect(scaledQuantTables(99)[0]).toBe(1);
  });

  it('Q=255 with in-band tables, and Q=255 without tables is dropped', () => {
    const tables = Buffer.concat([origTables.get(0)!, origTables.get(1)!]);
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const ok = pushAll(d, rfc2435Packets({ scan: origParsed.scan, type: 1, q: 255, widthByte: 40, heightByte: 30, tables }), 0);
    expect(ok.length).toBe(1);
    expect(decodeGray(ok[0]!.data[0]!)).toEqual(decodeGray(original));
    const none = pushAll(d, rfc2435Packets({ scan: origParsed.scan, type: 1, q: 255, widthByte: 40, heightByte: 30, tables: Buffer.alloc(0) }), 3000);
    expect(none).toEqual([]);
    expect(d.stats.errors).toBe(1);
  });

  it('Q=128: tables sent only with the first frame are cached and reused (QUIRKS Q39)', () => {
    const tables = Buffer.concat([origTables.get(0)!, origTables.get(1)!]);
    const fresh = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    // Without a first frame there is nothing cached: dropped, counted.
    expect(pushAll(fresh, rfc2435Packets({ scan: origParsed.scan, type: 1, q: 128, widthByte: 40, heightByte: 30, tables: Buffer.alloc(0) }), 0)).toEqual([]);
    expect(fresh.stats.errors).toBe(1);

    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const f1 = pushAll(d, rfc2435Packets({ scan: origParsed.scan, type: 1, q: 128, widthByte: 40, heightByte: 30, tables }), 0);
    const f2 = pushAll(d, rfc2435Packets({ scan: origParsed.scan, type: 1, q: 128, widthByte: 40, heightByte: 30, tables: Buffer.alloc(0) }), 3000);
    expect(f1.length + f2.length).toBe(2);
    expect(decodeGray(f2[0]!.data[0]!)).toEqual(decodeGray(original));
    expect(f2[0]!.data[0]).toEqual(f1[0]!.data[0]);
  });

  it('type 65 with a restart marker header becomes 4:2:0 with a DRI segment', () => {
    const scan = greyScan(20 * 15, true); // 320x240 in 16x16 MCUs, RST after every MCU
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const out = pushAll(d, rfc2435Packets({ scan, type: 65, q: 50, widthByte: 40, heightByte: 30, restartInterval: 1, mtu: 300 }), 0);
    expect(out.length).toBe(1);
    const jpeg = out[0]!.data[0]!;
    const dri = parseJpeg(jpeg).segments.find((s) => s.marker === 0xdd);
    expect(dri?.body.readUInt16BE(0)).toBe(1);
    const sof = parseJpeg(jpeg).segments.find((s) => s.marker === 0xc0)!;
    expect(sof.body[7]).toBe(0x22); // Y sampling 2x2: type 1 (4:2:0)
    const r = run('ffmpeg', ['-v', 'error', '-xerror', '-f', 'jpeg_pipe', '-i', '-', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], jpeg);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBe(320 * 240);
    expect(r.stdout.every((v) => Math.abs(v - 128) <= 1)).toBe(true);
  });

  it('width byte 64 with SDP dimensions 2560 becomes 2560 wide (go2rtc@c97a48a7, QUIRKS Q39)', () => {
    const scan = greyScan(160 * 1, false); // 2560x16
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {}, dimensions: { width: 2560, height: 16 } });
    const out = pushAll(d, rfc2435Packets({ scan, type: 1, q: 50, widthByte: 2560 / 8 & 0xff, heightByte: 2 }), 0);
    expect(out.length).toBe(1);
    expect(probeSize(out[0]!.data[0]!)).toBe('2560,16');
    expect(decodeGray(out[0]!.data[0]!).length).toBe(2560 * 16);
    expect(d.params()).toEqual({ width: 2560, height: 16 });
    // Without the SDP size the byte is taken literally.
    const plain = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const small = pushAll(plain, rfc2435Packets({ scan: greyScan(32, false), type: 1, q: 50, widthByte: 64, heightByte: 2 }), 0);
    expect(probeSize(small[0]!.data[0]!)).toBe('512,16');
  });

  it('drops a frame with a missing fragment or a lost last packet, then recovers', () => {
    const packets = rfc2435Packets({ scan: origParsed.scan, type: 1, q: 50, widthByte: 40, heightByte: 30 });
    expect(packets.length).toBeGreaterThan(3);
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    // Gap: the second fragment never arrives (no loss flag: the offset gives it away).
    const gap = [packets[0]!, ...packets.slice(2)];
    expect(pushAll(d, gap, 0)).toEqual([]);
    // Lost marker packet: the next timestamp closes the frame as dropped.
    expect(pushAll(d, packets.slice(0, -1), 3000)).toEqual([]);
    const good = pushAll(d, packets, 6000);
    expect(good.length).toBe(1);
    expect(good[0]!.timestamp).toBe(6000);
    expect(d.stats.framesDropped).toBe(2);
    // Loss flagged by the receiver also drops the frame in progress.
    const d2 = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    d2.push(pkt(0, packets[0]!.payload, false), false);
    expect(d2.push(pkt(0, packets[2]!.payload, false), true)).toEqual([]);
    expect(d2.stats.framesDropped).toBe(1);
  });

  it('appends EOI only when the scan lacks one', () => {
    const withEoi = Buffer.concat([origParsed.scan, Buffer.from([0xff, 0xd9])]);
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const a = pushAll(d, rfc2435Packets({ scan: withEoi, type: 1, q: 50, widthByte: 40, heightByte: 30 }), 0)[0]!.data[0]!;
    const b = pushAll(d, rfc2435Packets({ scan: origParsed.scan, type: 1, q: 50, widthByte: 40, heightByte: 30 }), 3000)[0]!.data[0]!;
    expect(a).toEqual(b);
    expect(a.subarray(-4).toString('hex')).not.toBe('ffd9ffd9');
  });

  it('rejects unsupported types and reserved Q values without throwing', () => {
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    for (const [type, q] of [
      [2, 50],
      [1, 0],
      [1, 110],
      [200, 50],
    ]) {
      const before = d.stats.errors;
      expect(pushAll(d, rfc2435Packets({ scan: origParsed.scan, type, q, widthByte: 40, heightByte: 30 }), 0)).toEqual([]);
      expect(d.stats.errors).toBeGreaterThan(before);
    }
    expect(d.stats.framesOut).toBe(0);
    // …and the next good frame still comes out.
    expect(pushAll(d, rfc2435Packets({ scan: origParsed.scan, type: 1, q: 50, widthByte: 40, heightByte: 30 }), 3000).length).toBe(1);
  });

  it('never throws on random payloads and keeps the reassembly buffer bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ payload: fc.uint8Array({ maxLength: 1500 }), ts: fc.integer({ min: 0, max: 3 }), marker: fc.boolean(), lost: fc.boolean() }), { maxLength: 60 }),
        (list) => {
          const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {}, dimensions: { width: 2560, height: 1440 } });
          for (const p of list) {
            d.push(pkt(p.ts, Buffer.from(p.payload), p.marker), p.lost);
            const f = (d as unknown as { frame?: { have: number } }).frame;
            expect(f?.have ?? 0).toBeLessThanOrEqual(MJPEG_MAX_FRAME_BYTES);
          }
        },
      ),
      { numRuns: 300 },
    );
    // A frame that never ends stops growing at the cap.
    const d = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const head = rfc2435Packets({ scan: Buffer.alloc(60000, 0x11), type: 1, q: 50, widthByte: 40, heightByte: 30, mtu: 60000 })[0]!.payload;
    let offset = 0;
    for (let i = 0; i < 200; i++) {
      const p = Buffer.from(head);
      p.writeUIntBE(offset, 1, 3);
      d.push(pkt(0, p, false), false);
      offset += 60000;
    }
    expect(d.stats.errors).toBeGreaterThan(0);
    expect((d as unknown as { frame?: { have: number } }).frame?.have ?? 0).toBeLessThanOrEqual(MJPEG_MAX_FRAME_BYTES);
  });
});
