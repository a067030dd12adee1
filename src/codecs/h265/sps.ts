import { BitReader, unescapeRbsp } from '../bitreader.ts';
import { err, ok } from '../../util/result.ts';
import type { Result } from '../../util/result.ts';

/** What camgate needs from an H.265 sequence parameter set (ITU-T H.265 7.3.2.2.1). */
export interface H265Sps {
  generalProfileSpace: number;
  generalTierFlag: number;
  generalProfileIdc: number;
  /** general_profile_compatibility_flag[0..31], flag j at bit (31 - j). */
  generalProfileCompatibilityFlags: number;
  /** The 48 bits after the compatibility flags (progressive_source_flag …), 6 bytes. */
  generalConstraintIndicatorFlags: Buffer;
  generalLevelIdc: number;
  width: number;
  height: number;
  fps?: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** sps_max_num_reorder_pics of the highest sub-layer (7.4.3.2.1): 0 means no reordering (no B-frames). */
  maxNumReorderPics?: number;
}

const MAX_DIMENSION = 16384;

/** st_ref_pic_set(stRpsIdx) (7.3.7); returns NumDeltaPocs[stRpsIdx]. */
function skipStRefPicSet(r: BitReader, idx: number, numDeltaPocs: number[]): number {
  const interRps = idx !== 0 ? r.flag() : false;
  if (interRps) {
    // In an SPS delta_idx_minus1 is absent (only slice headers code it), so RefRpsIdx = idx - 1.
    r.bit(); // delta_rps_sign
    r.ue(); // abs_delta_rps_minus1
    const ref = numDeltaPocs[idx - 1] ?? 0;
    let n = 0;
    for (let j = 0; j <= ref; j++) {
      const used = r.flag();
      const useDelta = used ? true : r.flag();
      if (useDelta) n++;
    }
    return n;
  }
  const neg = r.ue();
  const pos = r.ue();
  if (neg > 16 || pos > 16) {
    r.overrun = true;
    return 0;
  }
  for (let i = 0; i < neg + pos; i++) {
    r.ue(); // delta_poc_sX_minus1
    r.bit(); // used_by_curr_pic_sX_flag
  }
  return neg + pos;
}

function skipScalingListData(r: BitReader): void {
  // scaling_list_data() (7.3.4)
  for (let sizeId = 0; sizeId < 4; sizeId++) {
    for (let matrixId = 0; matrixId < 6; matrixId += sizeId === 3 ? 3 : 1) {
      if (!r.flag()) {
        r.ue(); // scaling_list_pred_matrix_id_delta
      } else {
        const coefNum = Math.min(64, 1 << (4 + (sizeId << 1)));
        if (sizeId > 1) r.se(); // scaling_list_dc_coef_minus8
        for (let i = 0; i < coefNum && !r.overrun; i++) r.se();
      }
      if (r.overrun) return;
    }
  }
}

/** Parses an H.265 SPS NAL unit (with its 2-byte NAL header). Trailing bytes after the VUI timing are ignored. */
export function parseH265Sps(nal: Buffer): Result<H265Sps> {
  if (nal.length < 16) return err('SPS too short');
  const type = (nal[0] >> 1) & 0x3f;
  if (type !== 33) return err(`not an SPS (NAL type ${type})`);
  const r = new BitReader(unescapeRbsp(nal.subarray(2)));
  r.skip(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.u(3);
  r.bit(); // sps_temporal_id_nesting_flag

  // profile_tier_level(1, sps_max_sub_layers_minus1) (7.3.3)
  const generalProfileSpace = r.u(2);
  const generalTierFlag = r.u(1);
  const generalProfileIdc = r.u(5);
  const generalProfileCompatibilityFlags = r.u(32) >>> 0;
  const constraint = Buffer.alloc(6);
  for (let i = 0; i < 6; i++) constraint[i] = r.u(8);
  const generalLevelIdc = r.u(8);
  const subProfile: boolean[] = [];
  const subLevel: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subProfile.push(r.flag());
    subLevel.push(r.flag());
  }
  if (maxSubLayersMinus1 > 0) r.skip(2 * (8 - maxSubLayersMinus1)); // reserved_zero_2bits
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (subProfile[i]) r.skip(88);
    if (subLevel[i]) r.skip(8);
  }

  const spsId = r.ue();
  if (spsId > 15) return err('SPS: sps_seq_parameter_set_id out of range');
  const chromaFormatIdc = r.ue();
  if (chromaFormatIdc > 3) return err('SPS: chroma_format_idc out of range');
  const separateColourPlane = chromaFormatIdc === 3 ? r.flag() : false;
  const picWidth = r.ue();
  const picHeight = r.ue();
  let confLeft = 0;
  let confRight = 0;
  let confTop = 0;
  let confBottom = 0;
  if (r.flag()) {
    confLeft = r.ue();
    confRight = r.ue();
    confTop = r.ue();
    confBottom = r.ue();
  }
  const bitDepthLuma = r.ue() + 8;
  const bitDepthChroma = r.ue() + 8;
  if (r.overrun) return err('SPS truncated before picture size');

  // Conformance window units (7.4.3.2.1, Table 6-1).
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const width = picWidth - subWidthC * (confLeft + confRight);
  const height = picHeight - subHeightC * (confTop + confBottom);
  if (width <= 0 || height <= 0 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
    return err(`SPS: implausible picture size ${width}x${height}`);
  }
  const sps: H265Sps = {
    generalProfileSpace, generalTierFlag, generalProfileIdc, generalProfileCompatibilityFlags,
    generalConstraintIndicatorFlags: constraint, generalLevelIdc, width, height,
    chromaFormatIdc, bitDepthLuma, bitDepthChroma,
  };
  const fps = readFps(r, maxSubLayersMinus1, (n) => {
    if (!r.overrun && n <= 16) sps.maxNumReorderPics = n;
  });
  if (fps !== undefined) sps.fps = fps;
  return ok(sps);
}

/**
 * Reads the rest of the SPS up to vui_timing_info; undefined when absent or unreadable. Hands out
 * sps_max_num_reorder_pics of the highest sub-layer on the way.
 */
function readFps(r: BitReader, maxSubLayersMinus1: number, onReorder: (pics: number) => void): number | undefined {
  const log2MaxPocLsb = r.ue() + 4;
  const orderingInfo = r.flag();
  let reorder = 0;
  for (let i = orderingInfo ? 0 : maxSubLayersMinus1; i <= maxSubLayersMinus1; i++) {
    r.ue(); // sps_max_dec_pic_buffering_minus1
    reorder = r.ue(); // sps_max_num_reorder_pics
    r.ue(); // sps_max_latency_increase_plus1
  }
  onReorder(reorder);
  for (let i = 0; i < 6; i++) r.ue(); // coding/transform block sizes and hierarchy depths
  if (r.flag() && r.flag()) skipScalingListData(r); // scaling_list_enabled, sps_scaling_list_data_present
  r.bit(); // amp_enabled_flag
  r.bit(); // sample_adaptive_offset_enabled_flag
  if (r.flag()) {
    // pcm_enabled_flag
    r.skip(8);
    r.ue();
    r.ue();
    r.bit();
  }
  const numStRps = r.ue();
  if (numStRps > 64 || r.overrun) return undefined;
  const numDeltaPocs: number[] = [];
  for (let i = 0; i < numStRps; i++) {
    numDeltaPocs.push(skipStRefPicSet(r, i, numDeltaPocs));
    if (r.overrun) return undefined;
  }
  if (r.flag()) {
    // long_term_ref_pics_present_flag
    const n = r.ue();
    if (n > 32) return undefined;
    for (let i = 0; i < n; i++) {
      r.skip(log2MaxPocLsb); // lt_ref_pic_poc_lsb_sps
      r.bit(); // used_by_curr_pic_lt_sps_flag
    }
  }
  r.bit(); // sps_temporal_mvp_enabled_flag
  r.bit(); // strong_intra_smoothing_enabled_flag
  if (!r.flag()) return undefined; // vui_parameters_present_flag
  // vui_parameters() (E.2.1)
  if (r.flag() && r.u(8) === 255) r.skip(32); // aspect ratio, Extended_SAR
  if (r.flag()) r.bit(); // overscan
  if (r.flag()) {
    r.skip(4);
    if (r.flag()) r.skip(24);
  }
  if (r.flag()) {
    r.ue();
    r.ue();
  }
  r.skip(3); // neutral_chroma_indication, field_seq, frame_field_info_present
  if (r.flag()) {
    // default_display_window_flag
    r.ue();
    r.ue();
    r.ue();
    r.ue();
  }
  if (!r.flag()) return undefined; // vui_timing_info_present_flag
  const numUnitsInTick = r.u(32);
  const timeScale = r.u(32);
  if (r.overrun || numUnitsInTick === 0 || timeScale === 0) return undefined;
  const fps = timeScale / numUnitsInTick;
  if (!(fps > 0 && fps <= 1000)) return undefined;
  return Math.round(fps * 1000) / 1000;
}

/** Codec string per ISO/IEC 14496-15 Annex E, e.g. 'hvc1.1.6.L93.B0'. */
export function h265CodecString(sps: H265Sps): string {
  const space = ['', 'A', 'B', 'C'][sps.generalProfileSpace] ?? '';
  // The compatibility flags are written in reverse bit order, in hex without leading zeros.
  let compat = 0;
  for (let j = 0; j < 32; j++) {
    if ((sps.generalProfileCompatibilityFlags >>> (31 - j)) & 1) compat |= 1 << j;
  }
  const tier = sps.generalTierFlag ? 'H' : 'L';
  let parts = `hvc1.${space}${sps.generalProfileIdc}.${(compat >>> 0).toString(16).toUpperCase()}.${tier}${sps.generalLevelIdc}`;
  // Constraint bytes, trailing zero bytes omitted.
  const c = sps.generalConstraintIndicatorFlags;
  let last = c.length;
  while (last > 0 && c[last - 1] === 0) last--;
  for (let i = 0; i < last; i++) parts += `.${c[i].toString(16).toUpperCase()}`;
  return parts;
}
