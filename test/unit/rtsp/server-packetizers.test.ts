/**
 * The restream's packetizers, each checked against camgate's independent depacketizer (written from
 * the same RFCs by another hand, and tested against GStreamer captures): what goes in comes out.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Mpeg4GenericPacketizer, AAC_HBR_FMTP } from '../../../src/codecs/aac/packetizer.ts';
import { Mpeg4GenericDepacketizer } from '../../../src/codecs/aac/index.ts';
import { G711Packetizer } from '../../../src/codecs/g711/packetizer.ts';
import { G711Depacketizer } from '../../../src/codecs/g711/index.ts';
import { OpusPacketizer } from '../../../src/codecs/opus/packetizer.ts';
import { OpusDepacketizer } from '../../../src/codecs/opus/index.ts';
import { MjpegPacketizer, parseJpegForRtp } from '../../../src/codecs/mjpeg/packetizer.ts';
import { MjpegDepacketizer } from '../../../src/codecs/mjpeg/index.ts';
import type { RtpPayload } from '../../../src/codecs/payload.ts';
import type { Depacketizer, Frame } from '../../../src/codecs/types.ts';

const JPEG = readFileSync(fileURLToPath(new URL('../../fixtures/rtp/smpte_q50.jpg', import.meta.url)));

/** Feed payloads to a depacketizer as consecutive RTP packets of one timestamp base. */
function roundTrip(dep: Depacketizer, units: { payloads: RtpPayload[]; ts: number }[]): Frame[] {
  let seq = 100;
  const out: Frame[] = [];
  for (const u of units) {
    for (const p of u.payloads) {
      out.push(...dep.push({ payloadType: 96, sequenceNumber: seq++, timestamp: u.ts + (p.tsDelta ?? 0), marker: p.marker, payload: Buffer.concat(p.parts) }, false));
    }
  }
  return out;
}

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('restream packetizers round-trip through the depacketizers', () => {
  it('AAC (RFC 3640 AAC-hbr), including an AU fragmented over several packets', () => {
    const pk = new Mpeg4GenericPacketizer({ mtu: 500 });
    const aus = [bytes(10, 1), bytes(400, 2), bytes(1800, 3), bytes(6000, 4)];
    const units = aus.map((au, i) => ({ payloads: pk.packetize([au]), ts: i * 1024 }));
    expect(units[3]!.payloads.length).toBe(13); // 6000 bytes in 496-byte pieces
    expect(units[3]!.payloads.filter((p) => p.marker)).toHaveLength(1);
    const dep = new Mpeg4GenericDepacketizer({ clockRate: 48000, channels: 1, fmtp: { ...AAC_HBR_FMTP, config: '1188' } });
    const frames = roundTrip(dep, units);
    expect(frames.map((f) => f.data[0]!.toString('hex'))).toEqual(aus.map((a) => a.toString('hex')));
    expect(frames.map((f) => f.timestamp)).toEqual([0, 1024, 2048, 3072]);
  });

  it('G.711: a long frame is split on sample boundaries with the right timestamps', () => {
    const pk = new G711Packetizer({ mtu: 400 });
    const frame = bytes(1000, 5);
    const payloads = pk.packetize([frame]);
    expect(payloads.map((p) => p.tsDelta ?? 0)).toEqual([0, 400, 800]);
    const dep = new G711Depacketizer('PCMA', { clockRate: 8000, fmtp: {} });
    const frames = roundTrip(dep, [{ payloads, ts: 8000 }]);
    expect(Buffer.concat(frames.map((f) => f.data[0]!)).equals(frame)).toBe(true);
    expect(frames.map((f) => f.timestamp)).toEqual([8000, 8400, 8800]);
  });

  it('Opus: one packet per RTP packet', () => {
    // TOC: config 31 (CELT FB 20 ms), stereo, code 0
    const packets = [Buffer.concat([Buffer.from([0xfc]), bytes(80, 6)]), Buffer.concat([Buffer.from([0xfc]), bytes(90, 7)])];
    const payloads = new OpusPacketizer().packetize(packets);
    const dep = new OpusDepacketizer({ clockRate: 48000, fmtp: { 'sprop-stereo': '1' } });
    const frames = roundTrip(dep, [{ payloads, ts: 0 }]);
    expect(frames.map((f) => f.data[0]!.toString('hex'))).toEqual(packets.map((p) => p.toString('hex')));
    expect(frames.map((f) => f.timestamp)).toEqual([0, 960]);
  });

  it('MJPEG (RFC 2435, Q=255 with in-band tables): the rebuilt JPEG has the same geometry, tables and scan', () => {
    const src = parseJpegForRtp(JPEG);
    expect(src.ok).toBe(true);
    if (!src.ok) return;
    expect([src.value.width, src.value.height, src.value.type]).toEqual([320, 240, 1]);
    const pk = new MjpegPacketizer({ mtu: 1000 });
    const payloads = pk.packetize([JPEG]);
    expect(payloads.length).toBe(Math.ceil((src.value.scan.length + 4 + 128) / 992));
    const dep = new MjpegDepacketizer({ clockRate: 90000, fmtp: {} });
    const frames = roundTrip(dep, [{ payloads, ts: 0 }]);
    expect(frames).toHaveLength(1);
    const back = parseJpegForRtp(frames[0]!.data[0]!);
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    expect([back.value.width, back.value.height, back.value.type]).toEqual([320, 240, 1]);
    expect(back.value.scan.equals(src.value.scan)).toBe(true);
    expect(back.value.tables.map((t) => t.data.toString('hex'))).toEqual(src.value.tables.map((t) => t.data.toString('hex')));
    // Packetizing the rebuilt JPEG again gives the very same packets.
    expect(pk.packetize(frames[0]!.data).map((p) => Buffer.concat(p.parts).toString('hex'))).toEqual(payloads.map((p) => Buffer.concat(p.parts).toString('hex')));
  });

  it('MJPEG: frames RFC 2435 cannot carry are dropped with a reason, not sent broken', () => {
    const pk = new MjpegPacketizer();
    expect(pk.packetize([Buffer.from('not a jpeg')])).toEqual([]);
    expect(pk.dropped).toBe(1);
    // 4:4:4 sampling (Y 1x1) is outside RFC 2435
    const j = Buffer.from(JPEG);
    const sof = j.indexOf(Buffer.from([0xff, 0xc0]));
    j[sof + 4 + 7] = 0x11;
    expect(pk.packetize([j])).toEqual([]);
    expect(pk.lastError).toMatch(/sampling/);
  });
});
