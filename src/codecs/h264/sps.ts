import { BitReader, unescapeRbsp } from '../bitreader.ts';
import { err, ok } from '../../util/result.ts';
import type { Result } from '../../util/result.ts';

/** What camgate needs from an H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1). */
export interface H264Sps {
  profileIdc: number;
  /** constraint_set0..5_flag + reserved_zero_2bits, as the byte after profile_idc. */
  constraintFlags: number;
  levelIdc: number;
  seqParameterSetId: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  frameMbsOnly: boolean;
  /** Cropped picture size in luma samples. */
  width: number;
  height: number;
  /** From VUI timing info: time_scale / (2 * num_units_in_tick), when present and sane. */
  fps?: number;
  /**
   * VUI bitstream_restriction max_num_reorder_frames (E.2.1): how many frames may precede a frame in
   * decode order and follow it in output order (0: no B-frame reordering). Absent in many cameras' SPS.
   */
  maxNumReorderFrames?: number;
}

/** Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** 16384 luma samples is far beyond any level limit; bigger values mean garbage. */
const MAX_DIMENSION = 16384;

function skipScalingList(r: BitReader, size: number): void {
  // scaling_list() (7.3.2.1.1.1): only the delta_scale values are coded until nextScale hits 0.
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
    if (r.overrun) return;
  }
}

/**
 * Parses an H.264 SPS NAL unit (with its 1-byte NAL header). Only the fields up to the VUI timing
 * info are read; anything after them, including stray trailing bytes, is ignored (Reolink, QUIRKS Q35).
 */
export function parseH264Sps(nal: Buffer): Result<H264Sps> {
  if (nal.length < 4) return err('SPS too short');
  if ((nal[0] & 0x1f) !== 7) return err(`not an SPS (NAL type ${nal[0] & 0x1f})`);
  const rbsp = unescapeRbsp(nal.subarray(1));
  const r = new BitReader(rbsp);
  const profileIdc = r.u(8);
  const constraintFlags = r.u(8);
  const levelIdc = r.u(8);
  const seqParameterSetId = r.ue();
  if (seqParameterSetId > 31) return err('SPS: seq_parameter_set_id out of range');

  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepthLuma = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc > 3) return err('SPS: chroma_format_idc out of range');
    if (chromaFormatIdc === 3) separateColourPlane = r.flag();
    bitDepthLuma = r.ue() + 8;
    r.ue(); // bit_depth_chroma_minus8
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.flag()) {
      // seq_scaling_matrix_present_flag
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists && !r.overrun; i++) {
        if (r.flag()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.bit(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const n = r.ue();
    if (n > 255) return err('SPS: num_ref_frames_in_pic_order_cnt_cycle out of range');
    for (let i = 0; i < n && !r.overrun; i++) r.se();
  } else if (pocType !== 2) {
    return err('SPS: pic_order_cnt_type out of range');
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.flag();
  if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
  r.bit(); // direct_8x8_inference_flag
  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (r.flag()) {
    cropLeft = r.ue();
    cropRight = r.ue();
    cropTop = r.ue();
    cropBottom = r.ue();
  }
  if (r.overrun) return err('SPS truncated before frame size');

  // Frame cropping units (7.4.2.1.1, Table 6-1).
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
  const width = widthMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = (frameMbsOnly ? 1 : 2) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
  if (width <= 0 || height <= 0 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
    return err(`SPS: implausible frame size ${width}x${height}`);
  }

  const sps: H264Sps = {
    profileIdc, constraintFlags, levelIdc, seqParameterSetId, chromaFormatIdc, bitDepthLuma,
    frameMbsOnly, width, height,
  };
  if (r.flag()) {
    const vui = parseVui(r);
    if (vui.fps !== undefined) sps.fps = vui.fps;
    if (vui.maxNumReorderFrames !== undefined) sps.maxNumReorderFrames = vui.maxNumReorderFrames;
  }
  return ok(sps);
}

/** hrd_parameters() (E.1.2): skipped. */
function skipHrd(r: BitReader): void {
  const cpbCnt = r.ue() + 1;
  r.skip(8); // bit_rate_scale, cpb_size_scale
  for (let i = 0; i < cpbCnt && i < 32 && !r.overrun; i++) {
    r.ue(); // bit_rate_value_minus1
    r.ue(); // cpb_size_value_minus1
    r.bit(); // cbr_flag
  }
  r.skip(20); // initial_cpb_removal_delay_length_minus1 … time_offset_length
}

/** VUI (E.1.1): the frame rate (timing info) and max_num_reorder_frames (bitstream restriction), each when present and readable. */
function parseVui(r: BitReader): { fps?: number; maxNumReorderFrames?: number } {
  const timing = parseVuiTiming(r);
  if (!timing) return {};
  const fps = timing.fps;
  if (timing.present) r.bit(); // fixed_frame_rate_flag
  const nalHrd = r.flag();
  if (nalHrd) skipHrd(r);
  const vclHrd = r.flag();
  if (vclHrd) skipHrd(r);
  if (nalHrd || vclHrd) r.bit(); // low_delay_hrd_flag
  r.bit(); // pic_struct_present_flag
  if (!r.flag() || r.overrun) return { fps }; // bitstream_restriction_flag
  r.bit(); // motion_vectors_over_pic_boundaries_flag
  for (let i = 0; i < 4; i++) r.ue(); // max_bytes_per_pic_denom … log2_max_mv_length_vertical
  const reorder = r.ue();
  r.ue(); // max_dec_frame_buffering
  return r.overrun || reorder > 16 ? { fps } : { fps, maxNumReorderFrames: reorder };
}

/**
 * VUI (E.1.1) up to timing_info_present_flag and, when set, num_units_in_tick and time_scale: whether
 * timing info is present and the frame rate it gives (when sane); undefined when unreadable.
 */
function parseVuiTiming(r: BitReader): { present: boolean; fps?: number } | undefined {
  if (r.flag()) {
    // aspect_ratio_info_present_flag
    if (r.u(8) === 255) r.skip(32); // Extended_SAR: sar_width, sar_height
  }
  if (r.flag()) r.bit(); // overscan_info_present_flag → overscan_appropriate_flag
  if (r.flag()) {
    // video_signal_type_present_flag
    r.skip(4); // video_format, video_full_range_flag
    if (r.flag()) r.skip(24); // colour_primaries, transfer_characteristics, matrix_coefficients
  }
  if (r.flag()) {
    r.ue(); // chroma_sample_loc_type_top_field
    r.ue(); // chroma_sample_loc_type_bottom_field
  }
  if (!r.flag()) return r.overrun ? undefined : { present: false }; // timing_info_present_flag
  const numUnitsInTick = r.u(32);
  const timeScale = r.u(32);
  if (r.overrun) return undefined;
  if (numUnitsInTick === 0 || timeScale === 0) return { present: true };
  // One frame is two field ticks (E.2.1, with field-based timing as in x264 and most cameras).
  const fps = timeScale / (2 * numUnitsInTick);
  if (!(fps > 0 && fps <= 1000)) return { present: true };
  return { present: true, fps: Math.round(fps * 1000) / 1000 };
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** RFC 6381 codec string 'avc1.PPCCLL' from SPS bytes 1..3 (profile_idc, constraint flags, level_idc). */
export function h264CodecString(sps: Buffer): string {
  if (sps.length < 4) return 'avc1';
  return `avc1.${hex2(sps[1])}${hex2(sps[2])}${hex2(sps[3])}`;
}
