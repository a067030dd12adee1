/**
 * The fMP4 initialization segment (ISO/IEC 14496-12, CMAF): ftyp + moov with one trak per track
 * and mvex/trex, and the decoder configuration records that carry the codec parameters:
 * avcC (ISO/IEC 14496-15 §5.3.3), hvcC (§8.3.3), esds (ISO/IEC 14496-1 §7.2.6) and dOps (Opus in
 * ISO BMFF, §4.3.2). The codec strings of the HLS CODECS attribute are later read back from these
 * records (codec-string.ts), so the playlist describes exactly what the player will be given.
 */
import { parseH265Sps } from '../../codecs/h265/sps.ts';
import { UNITY_MATRIX, box, fourcc, fullBox, u16, u32, u8 } from './box.ts';

export type Fmp4Codec = 'H264' | 'H265' | 'AAC' | 'OPUS';

export interface Fmp4Track {
  /** track_ID (1-based). */
  id: number;
  kind: 'video' | 'audio';
  codec: Fmp4Codec;
  /** Media timescale (ticks per second) of this track's decode times and durations. */
  timescale: number;
  width?: number;
  height?: number;
  /** H.264: SPS/PPS; H.265: VPS/SPS/PPS (NAL units without start codes). */
  vps?: Buffer;
  sps?: Buffer;
  pps?: Buffer;
  /** AAC AudioSpecificConfig. */
  audioSpecificConfig?: Buffer;
  sampleRate?: number;
  channels?: number;
}

/** avcC: AVCDecoderConfigurationRecord with one SPS and one PPS, 4-byte NAL lengths. */
export function avcC(sps: Buffer, pps: Buffer): Buffer {
  if (sps.length < 4) throw new Error('H.264 SPS too short for avcC');
  return box(
    'avcC',
    u8(1), // configurationVersion
    u8(sps[1]!), // AVCProfileIndication
    u8(sps[2]!), // profile_compatibility
    u8(sps[3]!), // AVCLevelIndication
    u8(0xfc | 3), // reserved(6) lengthSizeMinusOne(2) = 3
    u8(0xe0 | 1), // reserved(3) numOfSequenceParameterSets(5)
    u16(sps.length),
    sps,
    u8(1), // numOfPictureParameterSets
    u16(pps.length),
    pps,
  );
}

/** hvcC: HEVCDecoderConfigurationRecord; the profile/tier/level fields come from the SPS. */
export function hvcC(vps: Buffer, sps: Buffer, pps: Buffer): Buffer {
  const r = parseH265Sps(sps);
  if (!r.ok) throw new Error(`H.265 SPS: ${r.error}`);
  const s = r.value;
  const array = (type: number, nal: Buffer) => Buffer.concat([u8(0x80 | type), u16(1), u16(nal.length), nal]); // array_completeness=1
  return box(
    'hvcC',
    u8(1), // configurationVersion
    u8(((s.generalProfileSpace & 3) << 6) | ((s.generalTierFlag & 1) << 5) | (s.generalProfileIdc & 0x1f)),
    u32(s.generalProfileCompatibilityFlags),
    s.generalConstraintIndicatorFlags.subarray(0, 6),
    u8(s.generalLevelIdc),
    u16(0xf000), // reserved(4) min_spatial_segmentation_idc(12) = 0
    u8(0xfc), // reserved(6) parallelismType(2) = 0 (unknown)
    u8(0xfc | (s.chromaFormatIdc & 3)),
    u8(0xf8 | ((s.bitDepthLuma - 8) & 7)),
    u8(0xf8 | ((s.bitDepthChroma - 8) & 7)),
    u16(0), // avgFrameRate: unspecified
    // constantFrameRate(2)=0 numTemporalLayers(3)=1 temporalIdNested(1)=1 lengthSizeMinusOne(2)=3
    u8((1 << 3) | (1 << 2) | 3),
    u8(3), // numOfArrays
    array(32, vps),
    array(33, sps),
    array(34, pps),
  );
}

/** An MPEG-4 descriptor (ISO/IEC 14496-1 §8.3.3): tag, expandable size, payload. */
function descriptor(tag: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const n = body.length;
  // Always the 4-byte size form: simple and accepted by every parser.
  return Buffer.concat([u8(tag), Buffer.from([0x80 | ((n >> 21) & 0x7f), 0x80 | ((n >> 14) & 0x7f), 0x80 | ((n >> 7) & 0x7f), n & 0x7f]), body]);
}

/** esds: ES_Descriptor → DecoderConfigDescriptor (AAC, audio stream) → DecoderSpecificInfo (the ASC). */
export function esds(asc: Buffer, trackId: number): Buffer {
  const decSpecific = descriptor(0x05, asc);
  const decConfig = descriptor(
    0x04,
    u8(0x40), // objectTypeIndication: MPEG-4 Audio
    u8((0x05 << 2) | 1), // streamType audio(5), upStream 0, reserved 1
    Buffer.from([0, 0, 0]), // bufferSizeDB
    u32(0), // maxBitrate
    u32(0), // avgBitrate
    decSpecific,
  );
  const sl = descriptor(0x06, u8(0x02)); // SLConfigDescriptor predefined = 2 (MP4)
  return fullBox('esds', 0, 0, descriptor(0x03, u16(trackId), u8(0), decConfig, sl));
}

/** dOps: OpusSpecificBox (big-endian, unlike the Ogg OpusHead). */
export function dOps(channels: number, inputSampleRate = 48000): Buffer {
  return box(
    'dOps',
    u8(0), // Version
    u8(channels),
    u16(0), // PreSkip: unknown for a live RTP source
    u32(inputSampleRate),
    u16(0), // OutputGain
    u8(0), // ChannelMappingFamily 0: mono/stereo
  );
}

function visualSampleEntry(type: string, width: number, height: number, config: Buffer): Buffer {
  return box(
    type,
    Buffer.alloc(6), // reserved
    u16(1), // data_reference_index
    Buffer.alloc(16), // pre_defined, reserved
    u16(width),
    u16(height),
    u32(0x00480000), // horizresolution 72 dpi
    u32(0x00480000), // vertresolution
    u32(0), // reserved
    u16(1), // frame_count
    Buffer.alloc(32), // compressorname
    u16(0x0018), // depth
    u16(0xffff), // pre_defined = -1
    config,
  );
}

function audioSampleEntry(type: string, channels: number, sampleRate: number, config: Buffer): Buffer {
  return box(
    type,
    Buffer.alloc(6),
    u16(1), // data_reference_index
    Buffer.alloc(8), // reserved
    u16(channels),
    u16(16), // samplesize
    u16(0), // pre_defined
    u16(0), // reserved
    u32((sampleRate & 0xffff) * 0x10000), // 16.16; rates above 65535 Hz do not occur here
    config,
  );
}

function sampleEntry(t: Fmp4Track): Buffer {
  switch (t.codec) {
    case 'H264':
      if (!t.sps || !t.pps) throw new Error('H.264 track without SPS/PPS');
      return visualSampleEntry('avc1', t.width ?? 0, t.height ?? 0, avcC(t.sps, t.pps));
    case 'H265':
      if (!t.vps || !t.sps || !t.pps) throw new Error('H.265 track without VPS/SPS/PPS');
      // hvc1: parameter sets live in the sample entry (the muxer strips them from samples), which
      // is the form Safari requires.
      return visualSampleEntry('hvc1', t.width ?? 0, t.height ?? 0, hvcC(t.vps, t.sps, t.pps));
    case 'AAC':
      if (!t.audioSpecificConfig) throw new Error('AAC track without AudioSpecificConfig');
      return audioSampleEntry('mp4a', t.channels ?? 1, t.sampleRate ?? t.timescale, esds(t.audioSpecificConfig, t.id));
    case 'OPUS':
      return audioSampleEntry('Opus', t.channels ?? 2, 48000, dOps(t.channels ?? 2));
  }
}

function trak(t: Fmp4Track): Buffer {
  const video = t.kind === 'video';
  const tkhd = fullBox(
    'tkhd',
    0,
    0x000003, // track_enabled | track_in_movie
    u32(0), // creation_time
    u32(0), // modification_time
    u32(t.id),
    u32(0), // reserved
    u32(0), // duration: unknown (fragmented)
    Buffer.alloc(8), // reserved
    u16(0), // layer
    u16(0), // alternate_group
    u16(video ? 0 : 0x0100), // volume
    u16(0), // reserved
    UNITY_MATRIX,
    u32(video ? (t.width ?? 0) * 0x10000 : 0),
    u32(video ? (t.height ?? 0) * 0x10000 : 0),
  );
  const mdhd = fullBox('mdhd', 0, 0, u32(0), u32(0), u32(t.timescale), u32(0), u16(0x55c4) /* 'und' */, u16(0));
  const hdlr = fullBox('hdlr', 0, 0, u32(0), fourcc(video ? 'vide' : 'soun'), Buffer.alloc(12), Buffer.from(video ? 'VideoHandler\0' : 'SoundHandler\0', 'latin1'));
  const mediaHeader = video ? fullBox('vmhd', 0, 1, Buffer.alloc(8)) : fullBox('smhd', 0, 0, Buffer.alloc(4));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u32(1), sampleEntry(t)),
    fullBox('stts', 0, 0, u32(0)),
    fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0), u32(0)),
    fullBox('stco', 0, 0, u32(0)),
  );
  return box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', mediaHeader, dinf, stbl)));
}

/** ftyp + moov for the given tracks. Throws when a track lacks its codec parameters. */
export function buildInitSegment(tracks: Fmp4Track[]): Buffer {
  const ftyp = box('ftyp', fourcc('iso6'), u32(0), fourcc('iso6'), fourcc('cmfc'), fourcc('mp41'));
  const mvhd = fullBox(
    'mvhd',
    0,
    0,
    u32(0), // creation_time
    u32(0), // modification_time
    u32(1000), // timescale
    u32(0), // duration
    u32(0x00010000), // rate 1.0
    u16(0x0100), // volume 1.0
    Buffer.alloc(10), // reserved
    UNITY_MATRIX,
    Buffer.alloc(24), // pre_defined
    u32(Math.max(0, ...tracks.map((t) => t.id)) + 1), // next_track_ID
  );
  const trex = tracks.map((t) =>
    fullBox('trex', 0, 0, u32(t.id), u32(1) /* default_sample_description_index */, u32(0), u32(0), u32(0)),
  );
  const moov = box('moov', mvhd, ...tracks.map(trak), box('mvex', ...trex));
  return Buffer.concat([ftyp, moov]);
}
