import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { DtsEstimator, ReorderDetector } from '../../../src/codecs/dts.ts';
import { parseH264Sps } from '../../../src/codecs/h264/sps.ts';
import { parseH265Sps } from '../../../src/codecs/h265/sps.ts';

const FD = 3000; // one frame at 30 fps on the 90 kHz clock

/**
 * Decode order of GOPs with `b` B-frames between references (x264's pyramid order for b = 3:
 * P4 B2 b1 b3), as presentation indexes; the first frame of each GOP is a keyframe.
 */
function gopOrder(gops: number, gopLen: number, b: number): { pts: number; key: boolean }[] {
  const out: { pts: number; key: boolean }[] = [];
  for (let g = 0; g < gops; g++) {
    const base = g * gopLen;
    out.push({ pts: base, key: true });
    for (let ref = b + 1; ref < gopLen + b + 1; ref += b + 1) {
      const r = Math.min(ref, gopLen - 1);
      const prevRef = ref - (b + 1);
      out.push({ pts: base + r, key: false });
      const mids = [];
      for (let k = prevRef + 1; k < r; k++) mids.push(k);
      // pyramid: the middle one first
      if (mids.length === 3) out.push(...[mids[1]!, mids[0]!, mids[2]!].map((k) => ({ pts: base + k, key: false })));
      else out.push(...mids.map((k) => ({ pts: base + k, key: false })));
      if (r === gopLen - 1) break;
    }
  }
  return out;
}

describe('DtsEstimator (decode times for B-frames; RTP carries presentation times only)', () => {
  it('no reordering: dts is pts, also with a camera clock that jitters by a tick or repeats', () => {
    const d = new DtsEstimator();
    const pts = [0, 3000, 6001, 8999, 12000, 12000, 15000, 18002];
    expect(pts.map((p, i) => d.push(90000 + p, i === 0))).toEqual(pts.map((p) => 90000 + p));
    expect(d.depth).toBe(0);
  });

  it('x264 pyramid B-frames: decode times increase one frame apart and never pass the presentation time', () => {
    const frames = gopOrder(4, 30, 3);
    expect(new Set(frames.map((f) => f.pts)).size).toBe(120);
    const d = new DtsEstimator();
    const start = 1_000_000;
    const dts = frames.map((f) => d.push(start + f.pts * FD, f.key));
    expect(d.depth).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < dts.length; i++) expect(dts[i]!, `frame ${i}`).toBeGreaterThan(dts[i - 1]!);
    // From the second GOP on (the first is where reordering is discovered): exact.
    const second = frames.findIndex((f, i) => i > 0 && f.key);
    for (let i = second; i < frames.length; i++) {
      expect(dts[i]!, `frame ${i}`).toBeLessThanOrEqual(start + frames[i]!.pts * FD);
      if (i > second) expect(dts[i]! - dts[i - 1]!).toBe(FD);
    }
  });

  it('property: any reordered CFR stream gets strictly increasing decode times, at or before presentation after its first GOP', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 0, max: 2 ** 31 }), (b, refs, start) => {
        const gopLen = refs * (b + 1) + 1;
        const frames = gopOrder(3, gopLen, b);
        const d = new DtsEstimator();
        const dts = frames.map((f) => d.push(start + f.pts * FD, f.key));
        for (let i = 1; i < dts.length; i++) if (!(dts[i]! > dts[i - 1]!)) return false;
        const second = frames.findIndex((f, i) => i > 0 && f.key);
        for (let i = second; i < frames.length; i++) if (dts[i]! > start + frames[i]!.pts * FD) return false;
        return true;
      }),
    );
  });
});

describe('reorder depth and frame rate from the SPS (the hints that make the first GOP exact)', () => {
  it('H.264: x264 with B-frames writes max_num_reorder_frames in the VUI; ultrafast (no B-frames) says 0', () => {
    // ffmpeg -preset veryfast -bf 3 (b-pyramid), 320x240 at 25 fps
    const bf = parseH264Sps(Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex'));
    expect(bf.ok && bf.value).toMatchObject({ width: 320, height: 240, fps: 25, maxNumReorderFrames: 2 });
    // ffmpeg -preset ultrafast: Constrained Baseline, no B-frames
    const nob = parseH264Sps(Buffer.from('6742c00dda0507ec0440000003004000000c83c50aa8', 'hex'));
    expect(nob.ok && nob.value).toMatchObject({ width: 320, height: 240, fps: 25, maxNumReorderFrames: 0 });
  });

  it('H.265: sps_max_num_reorder_pics (x265 defaults)', () => {
    const r = parseH265Sps(Buffer.from('42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003210', 'hex'));
    expect(r.ok && r.value).toMatchObject({ width: 320, height: 240, fps: 25 });
    expect(r.ok && r.value.maxNumReorderPics).toBeGreaterThan(0);
  });

  it('SPS hints count only once frames come out of order: a camera whose SPS allows reordering it never does keeps dts = pts', () => {
    const honest = new DtsEstimator({ depth: 2, frameTicks: FD / 2 }); // and a wrong VUI frame rate
    for (let i = 0; i < 60; i++) expect(honest.push(i * FD + (i % 3), i % 30 === 0)).toBe(i * FD + (i % 3));
    expect(honest.depth).toBe(0);
    const frames = gopOrder(3, 30, 3);
    const bf = new DtsEstimator({ depth: 2, frameTicks: FD });
    const dts = frames.map((f) => bf.push(f.pts * FD, f.key));
    expect(bf.depth).toBe(2);
    for (let i = 1; i < dts.length; i++) expect(dts[i]!).toBeGreaterThan(dts[i - 1]!);
    const second = frames.findIndex((f, i) => i > 0 && f.key);
    for (let i = second; i < frames.length; i++) {
      expect(dts[i]!, `frame ${i}`).toBeLessThanOrEqual(frames[i]!.pts * FD);
      if (i > second) expect(dts[i]! - dts[i - 1]!, `frame ${i}`).toBe(FD);
    }
  });

  it('a camera clock that jumps back, or back to where it started, is not reordering', () => {
    const d = new DtsEstimator({ depth: 2, frameTicks: FD });
    const det = new ReorderDetector();
    let pts = 1_000_000;
    for (let k = 0; k < 4; k++) {
      for (let i = 0; i < 40; i++) {
        pts += FD;
        expect(d.push(pts, i === 0)).toBe(pts);
        det.push(pts);
      }
      pts -= 24 * FD; // 0.8 s back at 30 fps, then on from there
    }
    // GStreamer's RTSP server, 13 frames into a shared stream: back to the first frame's pts, then on.
    const replay = [...Array.from({ length: 13 }, (_, i) => i), ...Array.from({ length: 40 }, (_, i) => i)].map((i) => 5_000_000 + i * FD);
    replay.forEach((p, i) => {
      expect(d.push(p, i === 0 || i === 13)).toBe(p);
      det.push(p);
    });
    expect(d.depth).toBe(0);
    expect(det.reorderedFrames).toBe(0);
    expect(det.reordered).toBe(false);
  });

});
