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
 * Pure: no I/O. The reorder depth is learnt from the stream (how many frames already seen are
 * presented after a new one), and raised to the SPS's (H.264 VUI max_num_reorder_frames, H.265
 * sps_max_num_reorder_pics) once reordering is seen; the frame duration is the smallest step between
 * presentation times, or the SPS frame rate's. Until the first reordered frame dts = pts, so the
 * first frames with B-frames get approximate decode times (still increasing); the next keyframe
 * re-anchors. Decode times are anchored at each keyframe (dts = pts - depth × frame duration, so the
 * frames the keyframe's GOP reorders fit before their presentation times) and then advance one
 * frame duration per frame, never past the frame's own pts, always increasing.
 */

/** Frames looked back on to detect reordering (H.264 allows at most 16 frames of reorder). */
const WINDOW = 16;
/** Reordered frames seen before a stream is taken to have B-frames: a glitch or two is not that. */
export const REORDERED_FRAMES = 3;

/**
 * Tells B-frames from clock jumps, in decode order. A B-frame is presented before some of the
 * frames decoded just before it, and after others (the reference it sits between). A camera clock
 * that jumps back puts a frame before all of the recent ones: the window starts over from it.
 * Real cameras do that (GStreamer's RTSP server, 13 frames into a shared stream, went back to the
 * first frame's timestamp and on from there), and counting it as reordering refused them WebRTC.
 */
export class ReorderDetector {
  private readonly recent: number[] = [];
  /** Frames seen presented before an earlier-decoded one. */
  reorderedFrames = 0;
  /** The most frames seen presented after one frame: the reorder depth observed so far. */
  maxLater = 0;
  /** The smallest step seen between two presentation times: the frame duration. */
  frameTicks = Infinity;

  /** True once more than a glitch's worth of frames came out of presentation order. */
  get reordered(): boolean {
    return this.reorderedFrames >= REORDERED_FRAMES;
  }

  push(pts: number): void {
    let min = Infinity;
    let max = -Infinity;
    for (const p of this.recent) {
      const step = Math.abs(p - pts);
      if (step > 0 && step < this.frameTicks) this.frameTicks = step;
      if (p < min) min = p;
      if (p > max) max = p;
    }
    // Half a frame of slack: a camera clock that jitters by a tick is not reordering.
    const slack = Number.isFinite(this.frameTicks) ? this.frameTicks / 2 : 0;
    if (this.recent.length > 0 && (pts <= min + slack || pts > max + WINDOW * this.frameTicks)) {
      // Back to (or below) the earliest recent frame, or further ahead than any reordering reaches:
      // a jump or a replay, not a B-frame (which sits after the reference decoded before it).
      // GStreamer's shared stream jumped back to the first frame's pts.
      this.recent.length = 0;
    } else {
      let later = 0;
      for (const p of this.recent) if (p - pts > slack) later++;
      if (later > 0) {
        this.reorderedFrames++;
        if (later > this.maxLater) this.maxLater = Math.min(later, WINDOW);
      }
    }
    this.recent.push(pts);
    if (this.recent.length > WINDOW) this.recent.shift();
  }
}

export interface DtsHints {
  /** Reorder depth from the SPS, in frames. */
  depth?: number;
  /** Frame duration from the SPS frame rate, in clock ticks. */
  frameTicks?: number;
}

export class DtsEstimator {
  private readonly seen = new ReorderDetector();
  private hintDepth = 0;
  private hintTicks = Infinity;
  private lastDts: number | undefined;

  constructor(hints: DtsHints = {}) {
    this.hint(hints);
  }

  /** Figures from a (new) SPS: the depth only ever grows; the frame duration only ever shrinks. */
  hint(h: DtsHints): void {
    if (h.depth !== undefined && h.depth > this.hintDepth) this.hintDepth = Math.min(h.depth, WINDOW);
    if (h.frameTicks !== undefined && h.frameTicks > 0 && h.frameTicks < this.hintTicks) this.hintTicks = h.frameTicks;
  }

  /**
   * Frames of reordering the decode times allow for (0: dts = pts). The SPS's figures count only once
   * a frame came out of order: a camera whose SPS allows reordering it never does (one in the corpus
   * says 2), or whose VUI frame rate is wrong, keeps dts = pts.
   */
  get depth(): number {
    return this.seen.reorderedFrames > 0 ? Math.max(this.hintDepth, this.seen.maxLater) : 0;
  }

  /** The decode time of the next frame (decode order), given its presentation time. */
  push(pts: number, keyframe: boolean): number {
    this.seen.push(pts);
    const depth = this.depth;
    const frameTicks = depth > 0 ? Math.min(this.hintTicks, this.seen.frameTicks) : Infinity;
    // No reordering: the presentation time is the decode time, repeats and steps back included
    // (what the outputs did before; the HLS muxer drops a sample that does not advance).
    if (depth === 0 || !Number.isFinite(frameTicks)) {
      this.lastDts = pts;
      return pts;
    }
    let dts = keyframe || this.lastDts === undefined ? pts - depth * frameTicks : this.lastDts + frameTicks;
    if (dts > pts) dts = pts;
    // Right after reordering is first seen, the frames already sent used dts = pts: stay after them
    // (these few frames get short durations; the next keyframe re-anchors).
    if (this.lastDts !== undefined && dts <= this.lastDts) dts = this.lastDts + 1;
    this.lastDts = dts;
    return dts;
  }
}
