import type { AccessUnit } from '../stream/types.ts';
import type { RtpQuality } from './source.ts';
import { auBytes } from '../stream/consumer.ts';

export interface Quality {
  bitrateKbps: number;
  /** Video frames per second, measured. */
  fps: number;
  packetsReceived: number;
  packetsLost: number;
  lossPercent: number;
  jitterMs: number;
  keyframeIntervalMs: number;
}

const WINDOW_MS = 5000;

/**
 * Per-camera quality measured on the access units (bitrate, fps, keyframe interval), plus the
 * RTP receive statistics of the source. Bitrate and fps are averaged over a sliding 5 s window.
 */
export class QualityMeter {
  private samples: { t: number; bytes: number; video: boolean }[] = [];
  private head = 0;
  private lastKeyframeAt: number | undefined;
  private keyframeIntervalMs = 0;

  constructor(private readonly now: () => number = Date.now) {}

  reset(): void {
    this.samples = [];
    this.head = 0;
    this.lastKeyframeAt = undefined;
    this.keyframeIntervalMs = 0;
  }

  add(au: AccessUnit): void {
    const t = this.now();
    const video = au.codec === 'H264' || au.codec === 'H265' || au.codec === 'MJPEG';
    this.samples.push({ t, bytes: auBytes(au), video });
    if (video && au.keyframe) {
      // Measured on the media clock, so network bunching doesn't skew it.
      const at = (au.pts / au.clockRate) * 1000;
      if (this.lastKeyframeAt !== undefined && at > this.lastKeyframeAt) this.keyframeIntervalMs = Math.round(at - this.lastKeyframeAt);
      this.lastKeyframeAt = at;
    }
    this.trim(t);
  }

  private trim(now: number): void {
    while (this.head < this.samples.length && this.samples[this.head]!.t < now - WINDOW_MS) this.head++;
    if (this.head > 1024 && this.head * 2 > this.samples.length) {
      this.samples = this.samples.slice(this.head);
      this.head = 0;
    }
  }

  snapshot(rtp?: RtpQuality): Quality {
    const now = this.now();
    this.trim(now);
    let bytes = 0;
    let frames = 0;
    for (let i = this.head; i < this.samples.length; i++) {
      const s = this.samples[i]!;
      bytes += s.bytes;
      if (s.video) frames++;
    }
    const first = this.samples[this.head];
    const span = first ? Math.max(1000, Math.min(WINDOW_MS, now - first.t)) : WINDOW_MS;
    const received = rtp?.packetsReceived ?? 0;
    const lost = rtp?.packetsLost ?? 0;
    return {
      bitrateKbps: Math.round((bytes * 8) / span),
      fps: Math.round((frames * 1000 * 10) / span) / 10,
      packetsReceived: received,
      packetsLost: lost,
      lossPercent: received + lost > 0 ? Math.round((lost / (received + lost)) * 10000) / 100 : 0,
      jitterMs: Math.round((rtp?.jitterMs ?? 0) * 100) / 100,
      keyframeIntervalMs: this.keyframeIntervalMs,
    };
  }
}
