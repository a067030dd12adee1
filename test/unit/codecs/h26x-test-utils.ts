// Shared helpers for the H.264/H.265 depacketizer tests (not a test file itself).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRfc4571 } from '../../helpers/rtp-capture.ts';
import type { Depacketizer, Frame, RtpPacketIn } from '../../../src/codecs/types.ts';
import { joinAnnexB } from '../../../src/codecs/annexb.ts';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures');

/** Minimal RTP header parse (RFC 3550 5.1) with timestamp unwrapping, kept local so tests stand alone. */
export function loadCapture(name: string): RtpPacketIn[] {
  const out: RtpPacketIn[] = [];
  let base = -1;
  let cycles = 0;
  let last = 0;
  for (const b of readRfc4571(path.join(FIXTURES, 'rtp', name))) {
    const cc = b[0] & 0x0f;
    let off = 12 + cc * 4;
    if (b[0] & 0x10) off += 4 + b.readUInt16BE(off + 2) * 4;
    let end = b.length;
    if (b[0] & 0x20) end -= b[b.length - 1];
    const ts32 = b.readUInt32BE(4);
    if (base < 0) base = ts32;
    if (out.length > 0 && ts32 < last && last - ts32 > 0x80000000) cycles++;
    last = ts32;
    out.push({
      payloadType: b[1] & 0x7f,
      sequenceNumber: b.readUInt16BE(2),
      timestamp: cycles * 0x100000000 + ts32,
      marker: (b[1] & 0x80) !== 0,
      payload: b.subarray(off, end),
    });
  }
  return out;
}

/** Serialized RTP packet (from a packetizer) to the depacketizer's input form. */
export function toPacketIn(b: Buffer): RtpPacketIn {
  return {
    payloadType: b[1] & 0x7f,
    sequenceNumber: b.readUInt16BE(2),
    timestamp: b.readUInt32BE(4),
    marker: (b[1] & 0x80) !== 0,
    payload: b.subarray(12),
  };
}

export function runAll(d: Depacketizer, pkts: RtpPacketIn[], lostBeforeIdx: Set<number> = new Set()): Frame[] {
  const frames: Frame[] = [];
  pkts.forEach((p, i) => frames.push(...d.push(p, lostBeforeIdx.has(i))));
  return frames;
}

export interface ProbeResult { frames: number; width: number; height: number; codec: string; profile: string; level: number }

/** Decodes an Annex-B elementary stream with ffprobe, counting frames. */
export function ffprobe(annexB: Buffer, format: 'h264' | 'hevc'): ProbeResult {
  const r = spawnSync(
    'ffprobe',
    ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
      'stream=nb_read_frames,width,height,codec_name,profile,level', '-of', 'json', '-f', format, '-'],
    { input: annexB, encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`ffprobe failed: ${r.stderr.toString()}`);
  const s = JSON.parse(r.stdout.toString()).streams[0];
  return { frames: Number(s.nb_read_frames), width: s.width, height: s.height, codec: s.codec_name, profile: s.profile, level: s.level };
}

export const framesToAnnexB = (frames: Frame[]) => Buffer.concat(frames.map((f) => joinAnnexB(f.data)));

/** Removes emulation prevention bytes; kept separate from the code under test. */
export function rbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const b of nal) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}
