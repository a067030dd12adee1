/**
 * G.711 → AAC for HLS (only with `audio: transcode`): one ffmpeg process per transcoded audio track,
 * raw A-law/µ-law in on stdin, ADTS out on stdout. Video never goes through here.
 *
 * Timing: ffmpeg does not carry our timestamps, so output frame k is placed at
 * firstInputTime + (k - 1) × 1024 samples: the AAC encoder emits one frame of priming (encoder
 * delay) before the first real samples, and ADTS has no edit list to say so.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { buildAudioSpecificConfig, parseAdtsHeader, type AudioSpecificConfig } from '../codecs/aac/index.ts';
import type { AccessUnit } from '../stream/types.ts';

/** The output format is fixed so the init segment can be written before ffmpeg's first frame. */
export const TRANSCODE_ASC: AudioSpecificConfig = { objectType: 2, sampleRate: 16000, channels: 1, frameLength: 1024 };
export const TRANSCODE_ASC_BYTES = buildAudioSpecificConfig(TRANSCODE_ASC);

/** Most ADTS bytes buffered from ffmpeg before a frame boundary is found (bounded). */
const MAX_PENDING = 64 * 1024;

export class G711Transcoder {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private first: { pts: number; clockRate: number; wallclock: number; epoch: number; track: number } | undefined;
  private framesOut = 0;
  private closed = false;
  /** Last error (ffmpeg exit, write failure), for the camera notes. */
  lastError: string | undefined;

  constructor(
    private readonly ffmpeg: string,
    private readonly onFrame: (au: AccessUnit) => void,
  ) {}

  private spawnFor(au: AccessUnit): void {
    const fmt = au.codec === 'PCMA' ? 'alaw' : 'mulaw';
    const args = [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-fflags', '+nobuffer', '-probesize', '32', '-analyzeduration', '0',
      '-f', fmt, '-ar', String(au.clockRate), '-ac', '1', '-i', 'pipe:0',
      '-c:a', 'aac', '-b:a', '32k', '-ar', String(TRANSCODE_ASC.sampleRate), '-ac', '1',
      '-flush_packets', '1', '-f', 'adts', 'pipe:1',
    ];
    const p = spawn(this.ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = p;
    p.stdin.on('error', (e) => {
      this.lastError = `ffmpeg stdin: ${e.message}`;
    });
    p.stderr.on('data', (d: Buffer) => {
      this.lastError = d.toString('utf8').trim().slice(0, 300);
    });
    p.stdout.on('data', (d: Buffer) => this.onData(d));
    p.on('exit', (code) => {
      if (this.proc === p) this.proc = undefined;
      if (!this.closed && code !== 0) this.lastError = `ffmpeg exited with ${code}: ${this.lastError ?? ''}`;
    });
    p.on('error', (e) => {
      this.lastError = `ffmpeg: ${e.message}`;
    });
  }

  push(au: AccessUnit): void {
    if (this.closed) return;
    if (this.first && (au.epoch !== this.first.epoch || au.codec === 'PCMA' !== (this.proc?.spawnargs.includes('alaw') ?? false))) this.restart();
    if (!this.first) {
      this.first = { pts: au.pts, clockRate: au.clockRate, wallclock: au.wallclock, epoch: au.epoch, track: au.track };
      this.framesOut = 0;
      this.spawnFor(au);
    }
    const p = this.proc;
    if (!p || !p.stdin.writable) return;
    // Bounded: if ffmpeg stops reading, drop audio instead of queueing it without limit.
    if (p.stdin.writableLength > 256 * 1024) return;
    for (const b of au.data) p.stdin.write(b);
  }

  private onData(d: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    let off = 0;
    while (off + 7 <= this.pending.length) {
      const h = parseAdtsHeader(this.pending.subarray(off));
      if (!h.ok) {
        off++;
        continue;
      }
      const end = off + h.value.frameLength;
      if (end > this.pending.length) break;
      this.emitFrame(Buffer.from(this.pending.subarray(off + h.value.headerLength, end)));
      off = end;
    }
    this.pending = this.pending.subarray(off);
    if (this.pending.length > MAX_PENDING) this.pending = Buffer.alloc(0);
  }

  private emitFrame(frame: Buffer): void {
    const f = this.first;
    if (!f) return;
    const k = this.framesOut++;
    if (k === 0) return; // encoder priming
    const rate = TRANSCODE_ASC.sampleRate;
    const offset = (k - 1) * TRANSCODE_ASC.frameLength;
    const pts = Math.round((f.pts * rate) / f.clockRate) + offset;
    this.onFrame({
      track: f.track,
      codec: 'AAC',
      pts,
      dts: pts,
      clockRate: rate,
      wallclock: f.wallclock + (offset * 1000) / rate,
      keyframe: true,
      data: [frame],
      epoch: f.epoch,
    });
  }

  private restart(): void {
    this.proc?.kill('SIGKILL');
    this.proc = undefined;
    this.first = undefined;
    this.pending = Buffer.alloc(0);
  }

  close(): void {
    this.closed = true;
    this.restart();
  }
}
