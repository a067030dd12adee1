/**
 * fMP4 fragments (ISO/IEC 14496-12 §8.8): moof (mfhd, one traf per track with tfhd
 * default-base-is-moof, tfdt and a trun carrying every sample's size, duration, flags and composition
 * offset) followed by one mdat holding the tracks' samples back to back. An LL-HLS part is one
 * fragment; a segment is its parts concatenated.
 */
import { box, fullBox, u32, u64 } from './box.ts';

export interface Fmp4Sample {
  /** Duration in the track timescale. */
  duration: number;
  /** Composition time offset (pts - dts) in the track timescale; 0 without B-frames. */
  cto: number;
  keyframe: boolean;
  /** The sample bytes (for video: length-prefixed NAL units). */
  data: Buffer;
}

export interface Fmp4TrackRun {
  trackId: number;
  /** Decode time of the first sample (tfdt baseMediaDecodeTime), in the track timescale. */
  baseDecodeTime: number;
  samples: Fmp4Sample[];
}

// trun sample flags (§8.8.3.1): sample_depends_on (2 = depends on no other sample: a sync sample),
// sample_is_non_sync_sample.
const SYNC_SAMPLE = 0x02000000;
const NON_SYNC_SAMPLE = 0x01010000;

const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
const TRUN_DATA_OFFSET = 0x000001;
const TRUN_SAMPLE_DURATION = 0x000100;
const TRUN_SAMPLE_SIZE = 0x000200;
const TRUN_SAMPLE_FLAGS = 0x000400;
const TRUN_SAMPLE_CTO = 0x000800;

function trun(run: Fmp4TrackRun, dataOffset: number): Buffer {
  const n = run.samples.length;
  const table = Buffer.alloc(n * 16);
  run.samples.forEach((s, i) => {
    table.writeUInt32BE(s.duration >>> 0, i * 16);
    table.writeUInt32BE(s.data.length, i * 16 + 4);
    table.writeUInt32BE(s.keyframe ? SYNC_SAMPLE : NON_SYNC_SAMPLE, i * 16 + 8);
    table.writeInt32BE(s.cto | 0, i * 16 + 12); // version 1: signed offsets
  });
  const flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE | TRUN_SAMPLE_FLAGS | TRUN_SAMPLE_CTO;
  const off = Buffer.alloc(4);
  off.writeInt32BE(dataOffset);
  return fullBox('trun', 1, flags, u32(n), off, table);
}

function traf(run: Fmp4TrackRun, dataOffset: number): Buffer {
  return box(
    'traf',
    fullBox('tfhd', 0, TFHD_DEFAULT_BASE_IS_MOOF, u32(run.trackId)),
    fullBox('tfdt', 1, 0, u64(run.baseDecodeTime)),
    trun(run, dataOffset),
  );
}

/**
 * One fragment: moof + mdat. Tracks without samples are left out. data_offset is relative to the
 * start of the moof (default-base-is-moof), so the moof is built twice: once to learn its size.
 */
export function buildFragment(sequenceNumber: number, runs: Fmp4TrackRun[]): Buffer {
  const present = runs.filter((r) => r.samples.length > 0);
  const build = (moofSize: number) => {
    let offset = moofSize + 8; // + mdat header
    const trafs: Buffer[] = [];
    for (const r of present) {
      trafs.push(traf(r, offset));
      for (const s of r.samples) offset += s.data.length;
    }
    return box('moof', fullBox('mfhd', 0, 0, u32(sequenceNumber)), ...trafs);
  };
  const moof = build(build(0).length);
  const payload: Buffer[] = [];
  for (const r of present) for (const s of r.samples) payload.push(s.data);
  return Buffer.concat([moof, box('mdat', ...payload)]);
}
