/**
 * Decode timestamps for video whose frames are reordered (B-frames). RTP carries only the
 * presentation time (RFC 6184 5.1 and RFC 7798 4.1: the RTP timestamp is the sampling time), while
 * frames arrive in decode order; fMP4 (LL-HLS) needs a decode time per sample that increases in
 * that order, with the presentation time as dts + composition offset (ISO/IEC 14496-12 8.6.1).
 *
 * Cameras rarely send B-frames, and then dts = pts, with nothing held back. Encoders do (ffmpeg
 * with libx264's default settings pushing to camgate: 3 B-frames, pyramid). Without decode times
 * the HLS muxer saw presentation times going backwards and dropped those frames, and the frames
 * that referenced them decoded with errors.
 *
 * Pure: no I/O. The reorder depth comes from the SPS when it says (H.264 VUI max_num_reorder_frames,
 * H.265 sps_max_num_reorder_pics) and is also learnt from the stream (how many frames already seen
 * are presented after a new one); the frame duration is the SPS frame rate's, or the smallest step
 * between presentation times seen. Learnt only, the first GOP with B-frames gets approximate decode
 * times (still increasing); with the SPS's figures it is exact from the first keyframe. Decode times are anchored at each keyframe (dts = pts - depth × frame duration, so the
 * frames the keyframe's GOP reorders fit before their presentation times) and then advance one
 * frame duration per frame, never past the frame's own pts, always increasing.
 */

/** Frames looked back on to detect reordering (H.264 allows at most 16 frames of reorder). */
const WINDOW = 16;

export interface DtsHints {
  /** Reorder depth from the SPS, in frames. */
  depth?: number;
  /** Frame duration from the SPS frame rate, in clock ticks. */
  frameTicks?: number;
}

export class DtsEstimator {
  private readonly recent: number[] = [];
  private reorderDepth = 0;
  private frameTicks = Infinity;
  private lastDts: number | undefined;

  constructor(hints: DtsHints = {}) {
    this.hint(hints);
  }

  /** Figures from a (new) SPS: the depth only ever grows; the frame duration only ever shrinks. */
  hint(h: DtsHints): void {
    if (h.depth !== undefined && h.depth > this.reorderDepth) this.reorderDepth = Math.min(h.depth, WINDOW);
    if (h.frameTicks !== undefined && h.frameTicks > 0 && h.frameTicks < this.frameTicks) this.frameTicks = h.frameTicks;
  }

  /** Frames of reordering seen so far (0: dts = pts). */
  get depth(): number {
    return this.reorderDepth;
  }

  /** The decode time of the next frame (decode order), given its presentation time. */
  push(pts: number, keyframe: boolean): number {
    let later = 0;
    for (const p of this.recent) {
      const step = Math.abs(p - pts);
      if (step > 0 && step < this.frameTicks) this.frameTicks = step;
    }
    // A frame presented before frames that came earlier in decode order. Half a frame of slack:
    // a camera clock that jitters by a tick is not reordering.
    for (const p of this.recent) if (p - pts > this.frameTicks / 2) later++;
    if (later > this.reorderDepth) this.reorderDepth = Math.min(later, WINDOW);
    this.recent.push(pts);
    if (this.recent.length > WINDOW) this.recent.shift();

    // No reordering: the presentation time is the decode time, repeats and steps back included
    // (what the outputs did before; the HLS muxer drops a sample that does not advance).
    if (this.reorderDepth === 0 || !Number.isFinite(this.frameTicks)) {
      this.lastDts = pts;
      return pts;
    }
    let dts = keyframe || this.lastDts === undefined ? pts - this.reorderDepth * this.frameTicks : this.lastDts + this.frameTicks;
    if (dts > pts) dts = pts;
    // Right after reordering is first seen, the frames already sent used dts = pts: stay after them
    // (these few frames get short durations; the next keyframe re-anchors).
    if (this.lastDts !== undefined && dts <= this.lastDts) dts = this.lastDts + 1;
    this.lastDts = dts;
    return dts;
  }

  /** After a stream restart (new epoch): nothing of the old timeline is kept. */
  reset(): void {
    this.recent.length = 0;
    this.lastDts = undefined;
  }
}
