import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { splitAnnexB } from '../codecs/annexb.ts';
import { parseH264Sps, h264CodecString } from '../codecs/h264/index.ts';
import { splitAdts, parseAdtsHeader, aacCodecString } from '../codecs/aac/index.ts';
import type { TrackInfo, AccessUnit } from '../stream/types.ts';
import type { Source, SourceEvents } from './source.ts';

const ASSETS = fileURLToPath(new URL('../../assets/demo/', import.meta.url));

interface DemoClip {
  tracks: TrackInfo[];
  /** Video access units (NAL lists, AUD removed), one per frame. */
  video: { nalus: Buffer[]; keyframe: boolean }[];
  /** Raw AAC frames. */
  audio: Buffer[];
  fps: number;
  sampleRate: number;
}

let clipPromise: Promise<DemoClip> | undefined;

/** Loads the bundled clip once per process: H.264 Annex-B with AUDs, and ADTS AAC. */
export function loadDemoClip(dir = ASSETS): Promise<DemoClip> {
  clipPromise ??= (async () => {
    const [h264, aac] = await Promise.all([
      readFile(path.join(dir, 'demo.h264')),
      readFile(path.join(dir, 'demo.aac')),
    ]);
    const video: DemoClip['video'] = [];
    let cur: Buffer[] = [];
    let sps: Buffer | undefined;
    let pps: Buffer | undefined;
    const flush = () => {
      if (cur.some((n) => (n[0]! & 0x1f) >= 1 && (n[0]! & 0x1f) <= 5)) {
        video.push({ nalus: cur, keyframe: cur.some((n) => (n[0]! & 0x1f) === 5) });
      }
      cur = [];
    };
    for (const nal of splitAnnexB(h264)) {
      const type = nal[0]! & 0x1f;
      if (type === 9) {
        flush(); // access unit delimiter starts a new access unit
        continue;
      }
      if (type === 7) sps ??= nal;
      if (type === 8) pps ??= nal;
      cur.push(nal);
    }
    flush();
    if (!sps || !pps) throw new Error('demo clip has no SPS/PPS');
    const parsed = parseH264Sps(sps);
    if (!parsed.ok) throw new Error(`demo clip SPS: ${parsed.error}`);
    const fps = parsed.value.fps ?? 25;

    const audio: Buffer[] = [];
    const first = parseAdtsHeader(aac);
    if (!first.ok) throw new Error(`demo clip ADTS: ${first.error}`);
    for (const frame of splitAdts(aac)) audio.push(frame);
    const asc = first.value.asc;
    const tracks: TrackInfo[] = [
      {
        id: 0,
        kind: 'video',
        codec: 'H264',
        clockRate: 90000,
        params: {
          codecString: h264CodecString(sps),
          width: parsed.value.width,
          height: parsed.value.height,
          fps,
          profile: parsed.value.profileIdc,
          level: parsed.value.levelIdc,
          sps,
          pps,
        },
      },
      {
        id: 1,
        kind: 'audio',
        codec: 'AAC',
        clockRate: asc.sampleRate,
        params: {
          codecString: aacCodecString(asc),
          sampleRate: asc.sampleRate,
          channels: asc.channels,
          audioSpecificConfig: ascBytes(asc.objectType, asc.sampleRate, asc.channels),
        },
      },
    ];
    return { tracks, video, audio, fps, sampleRate: asc.sampleRate };
  })();
  clipPromise.catch(() => {
    clipPromise = undefined;
  });
  return clipPromise;
}

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

function ascBytes(objectType: number, sampleRate: number, channels: number): Buffer {
  const idx = SAMPLE_RATES.indexOf(sampleRate);
  const v = (objectType << 11) | ((idx < 0 ? 15 : idx) << 7) | (channels << 3);
  return Buffer.from([v >> 8, v & 0xff]);
}

/**
 * The built-in demo camera (`url: builtin:demo`): the bundled clip looped with real-time pacing and
 * continuous timestamps. It feeds the hub like any camera, so a newcomer sees video without hardware.
 */
export class DemoSource implements Source {
  readonly kind = 'demo';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  async start(events: SourceEvents): Promise<{ tracks: TrackInfo[]; transport: string; quirks: string[] }> {
    const clip = await loadDemoClip();
    this.stopped = false;
    let start = 0;
    const videoStep = 90000 / clip.fps;
    let v = 0;
    let a = 0;
    const tick = () => {
      if (this.stopped) return;
      if (start === 0) start = Date.now();
      const elapsed = Date.now() - start;
      const out: AccessUnit[] = [];
      // Emit every unit whose presentation time has come, interleaved in time order.
      for (;;) {
        const vt = (v * 1000) / clip.fps;
        const at = (a * 1024 * 1000) / clip.sampleRate;
        const next = Math.min(vt, at);
        if (next > elapsed) break;
        if (vt <= at) {
          const f = clip.video[v % clip.video.length]!;
          const pts = Math.round(v * videoStep);
          out.push({ track: 0, codec: 'H264', pts, dts: pts, clockRate: 90000, wallclock: start + vt, keyframe: f.keyframe, data: f.nalus, epoch: 0 });
          v++;
        } else {
          const pts = a * 1024;
          out.push({ track: 1, codec: 'AAC', pts, dts: pts, clockRate: clip.sampleRate, wallclock: start + at, keyframe: true, data: [clip.audio[a % clip.audio.length]!], epoch: 0 });
          a++;
        }
      }
      for (const au of out) events.accessUnit(au);
    };
    this.tick = tick;
    return { tracks: clip.tracks, transport: 'builtin', quirks: [] };
  }

  private tick: (() => void) | undefined;

  /** Pacing starts once the hub knows the tracks, so the first keyframe isn't lost. */
  ready(): void {
    if (!this.tick || this.timer) return;
    this.timer = setInterval(this.tick, 10);
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
