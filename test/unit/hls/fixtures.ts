// Access units for HLS tests, rebuilt from the real encoder RTP captures in test/fixtures/rtp by
// the real depacketizers: H.264/H.265 320x240@15 (IDR every 15 frames), AAC 16 kHz, Opus 48 kHz.
import { loadCapture as loadVideo, runAll as runVideo } from '../codecs/h26x-test-utils.ts';
import { loadCapture as loadAudio, loadCaps, runAll as runAudio } from '../codecs/audio-mjpeg-helpers.ts';
import { H264Depacketizer } from '../../../src/codecs/h264/index.ts';
import { H265Depacketizer } from '../../../src/codecs/h265/index.ts';
import { Mpeg4GenericDepacketizer } from '../../../src/codecs/aac/index.ts';
import { OpusDepacketizer } from '../../../src/codecs/opus/index.ts';
import type { AccessUnit, TrackInfo } from '../../../src/stream/types.ts';
import type { CodecName, Depacketizer, Frame } from '../../../src/codecs/types.ts';

export const WALL0 = Date.parse('2026-01-01T00:00:00.000Z');

export interface Clip {
  track: TrackInfo;
  frames: Frame[];
  /** Duration of the clip in clock units (for looping). */
  span: number;
}

function clip(id: number, kind: 'video' | 'audio', codec: CodecName, d: Depacketizer, frames: Frame[], frameTicks: number): Clip {
  const p = d.params();
  const t0 = frames[0]!.timestamp;
  const norm = frames.map((f) => ({ ...f, timestamp: f.timestamp - t0 }));
  return {
    track: { id, kind, codec, clockRate: d.clockRate, params: p },
    frames: norm,
    span: norm[norm.length - 1]!.timestamp + frameTicks,
  };
}

export function videoClip(codec: 'H264' | 'H265', file?: string): Clip {
  const d = codec === 'H264' ? new H264Depacketizer({ clockRate: 90000, fmtp: {} }) : new H265Depacketizer({ clockRate: 90000, fmtp: {} });
  const frames = runVideo(d, loadVideo(file ?? (codec === 'H264' ? 'h264_x264.rtp' : 'h265_x265.rtp')));
  return clip(0, 'video', codec, d, frames, 6000);
}

export function audioClip(codec: 'AAC' | 'OPUS', id = 1): Clip {
  const name = codec === 'AAC' ? 'aac_mpeg4generic' : 'opus_stereo';
  const caps = loadCaps(name);
  const fmtp: Record<string, string> = {};
  for (const [k, v] of Object.entries(caps)) fmtp[k] = v;
  const init = { clockRate: Number(caps['clock-rate']), channels: Number(caps['encoding-params'] ?? 1), fmtp };
  const d = codec === 'AAC' ? new Mpeg4GenericDepacketizer(init) : new OpusDepacketizer(init);
  const frames = runAudio(d, loadAudio(`${name}.rtp`));
  return clip(id, 'audio', codec, d, frames, codec === 'AAC' ? 1024 : 960);
}

/**
 * The clips' access units interleaved in time, looped `loops` times (timestamps keep increasing),
 * with wall clocks from WALL0. `ptsBase` offsets each track's RTP timestamps like a real camera.
 */
export function accessUnits(clips: Clip[], loops: number, epoch = 1, wallOffsetMs = 0): AccessUnit[] {
  const out: { t: number; au: AccessUnit }[] = [];
  // Loop on the video clip's length so tracks stay in step.
  const loopSec = clips[0]!.span / clips[0]!.track.clockRate;
  for (const c of clips) {
    const rate = c.track.clockRate;
    const base = 1000 + c.track.id * 77777;
    for (let l = 0; l < loops; l++) {
      for (const f of c.frames) {
        const ts = f.timestamp + Math.round(l * loopSec * rate);
        if (c.track.kind === 'audio' && f.timestamp >= loopSec * rate) continue;
        const sec = ts / rate;
        out.push({
          t: sec,
          au: {
            track: c.track.id,
            codec: c.track.codec,
            pts: base + ts,
            dts: base + ts,
            clockRate: rate,
            wallclock: WALL0 + wallOffsetMs + sec * 1000,
            keyframe: f.keyframe,
            data: f.data,
            epoch,
          },
        });
      }
    }
  }
  out.sort((a, b) => a.t - b.t);
  return out.map((x) => x.au);
}
