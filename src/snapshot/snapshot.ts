/**
 * Snapshots: the stream's cached keyframe decoded into a JPEG by ffmpeg.
 *
 * Only the keyframe is decoded (no GOP replay): it is at most one GOP old, needs no reference
 * frames, and costs one short-lived ffmpeg per second per stream at most, because results are
 * cached for ~1 s and, beyond that, for as long as the keyframe is the same one. An MJPEG frame is
 * already a JPEG and is served as it is unless it must be scaled.
 */
import { spawn } from 'node:child_process';
import { joinAnnexB } from '../codecs/annexb.ts';
import type { StreamHub } from '../stream/stream.ts';
import type { AccessUnit } from '../stream/types.ts';
import { findFfmpeg } from '../util/ffmpeg.ts';

export class SnapshotError extends Error {
  constructor(
    readonly status: 400 | 404 | 500 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Snapshot {
  jpeg: Buffer;
  /** Wall-clock time the frame was captured (ms since epoch). */
  capturedAt: number;
  /** Served from the cache, without running ffmpeg. */
  cached: boolean;
}

export interface SnapshotOptions {
  /** How long a JPEG is served without looking at the stream again (default 1000 ms). */
  cacheMs?: number;
  /** ffmpeg is killed after this long (default 5000 ms). */
  timeoutMs?: number;
  /** ffmpeg processes at once (default 2): a burst of posters must not eat every core. */
  maxConcurrent?: number;
  /** Requests waiting for an ffmpeg slot before new ones get 503 (default 32). */
  maxQueued?: number;
  /** How long to wait for a first keyframe when a stream has none yet (default 4000 ms). */
  waitMs?: number;
  /** Most JPEGs kept in the cache (default 256). */
  maxCacheEntries?: number;
  /** Override the ffmpeg lookup (tests). */
  ffmpegPath?: string | null;
}

/** What snapshots need from the gateway. */
export interface SnapshotSource {
  hub: StreamHub;
  acquire(stream: string): () => void;
}

/** Largest JPEG ffmpeg may hand back (a 4K frame at high quality is ~2 MB). */
const MAX_JPEG_BYTES = 16 * 1024 * 1024;
export const MIN_WIDTH = 16;
export const MAX_WIDTH = 4096;

interface CacheEntry {
  key: string;
  keyframe: AccessUnit;
  jpeg: Buffer;
  madeAt: number;
}

export class Snapshots {
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private readonly waitMs: number;
  private readonly maxCacheEntries: number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Snapshot>>();
  private running = 0;
  private readonly queue: (() => void)[] = [];
  /** ffmpeg runs so far (for tests and metrics). */
  decodes = 0;

  constructor(
    private readonly source: SnapshotSource,
    private readonly opts: SnapshotOptions = {},
  ) {
    this.cacheMs = opts.cacheMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxConcurrent = opts.maxConcurrent ?? 2;
    this.maxQueued = opts.maxQueued ?? 32;
    this.waitMs = opts.waitMs ?? 4000;
    this.maxCacheEntries = opts.maxCacheEntries ?? 256;
  }

  /** A JPEG of `stream` (`<camera>` or `<camera>/sub`), scaled to `width` pixels when given. Throws SnapshotError. */
  async get(stream: string, width?: number): Promise<Snapshot> {
    if (width !== undefined && (!Number.isInteger(width) || width < MIN_WIDTH || width > MAX_WIDTH)) {
      throw new SnapshotError(400, 'bad_width', `width must be a whole number from ${MIN_WIDTH} to ${MAX_WIDTH}`);
    }
    const key = `${stream}|${width ?? ''}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.madeAt < this.cacheMs) return { jpeg: hit.jpeg, capturedAt: hit.keyframe.wallclock, cached: true };
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = this.make(stream, width, key).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async make(stream: string, width: number | undefined, key: string): Promise<Snapshot> {
    const s = this.source.hub.get(stream);
    if (!s) throw new SnapshotError(404, 'not_found', `no stream '${stream}'`);
    let kf = s.lastKeyframe();
    if (!kf) kf = await this.waitForKeyframe(stream);
    const hit = this.cache.get(key);
    if (hit && hit.keyframe === kf) {
      // Same keyframe as last time (long GOP): the JPEG is still right.
      hit.madeAt = Date.now();
      return { jpeg: hit.jpeg, capturedAt: kf.wallclock, cached: true };
    }
    const jpeg = await this.decode(kf, width);
    this.remember({ key, keyframe: kf, jpeg, madeAt: Date.now() });
    return { jpeg, capturedAt: kf.wallclock, cached: false };
  }

  private remember(e: CacheEntry): void {
    this.cache.delete(e.key);
    if (this.cache.size >= this.maxCacheEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(e.key, e);
  }

  /** Forget cached JPEGs of a stream (it was removed or restarted). */
  forget(stream: string): void {
    for (const k of [...this.cache.keys()]) if (k.startsWith(`${stream}|`)) this.cache.delete(k);
  }

  /** No keyframe cached yet: start the camera if it is on demand, and wait for one. */
  private async waitForKeyframe(stream: string): Promise<AccessUnit> {
    const release = this.source.acquire(stream);
    const s = this.source.hub.get(stream);
    if (!s) {
      release();
      throw new SnapshotError(404, 'not_found', `no stream '${stream}'`);
    }
    const consumer = s.subscribe({ fromGop: true, maxUnits: 256, label: 'snapshot' });
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), this.waitMs);
      });
      for (;;) {
        const au = await Promise.race([consumer.next(), timeout]);
        if (!au) break;
        if (au.keyframe && (au.codec === 'H264' || au.codec === 'H265' || au.codec === 'MJPEG')) return au;
      }
    } finally {
      if (timer) clearTimeout(timer);
      consumer.close();
      release();
    }
    const noVideo = s.tracks.length > 0 && !s.hasVideo;
    if (noVideo) throw new SnapshotError(404, 'no_video', `'${stream}' has no video track`);
    throw new SnapshotError(503, 'no_frame', `'${stream}' has no picture yet (${s.online ? 'waiting for a keyframe' : 'the camera is not streaming'})`);
  }

  private async slot(): Promise<() => void> {
    if (this.running >= this.maxConcurrent) {
      if (this.queue.length >= this.maxQueued) throw new SnapshotError(503, 'busy', 'too many snapshots being made; try again shortly');
      await new Promise<void>((resolve) => this.queue.push(resolve));
    }
    this.running++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.running--;
      this.queue.shift()?.();
    };
  }

  private async decode(kf: AccessUnit, width: number | undefined): Promise<Buffer> {
    if (kf.codec === 'MJPEG' && width === undefined) return Buffer.concat(kf.data);
    const format = kf.codec === 'H264' ? 'h264' : kf.codec === 'H265' ? 'hevc' : kf.codec === 'MJPEG' ? 'mjpeg' : undefined;
    if (!format) throw new SnapshotError(404, 'no_video', `cannot make a snapshot of ${kf.codec}`);
    const input = kf.codec === 'MJPEG' ? Buffer.concat(kf.data) : joinAnnexB(kf.data);
    const ffmpeg = this.opts.ffmpegPath !== undefined ? this.opts.ffmpegPath : findFfmpeg();
    if (!ffmpeg) throw new SnapshotError(500, 'no_ffmpeg', 'snapshots need ffmpeg (set FFMPEG_PATH or install ffmpeg)');
    const release = await this.slot();
    try {
      this.decodes++;
      return await runFfmpeg(ffmpeg, format, input, width, this.timeoutMs);
    } finally {
      release();
    }
  }
}

/** One keyframe in, one JPEG out. */
function runFfmpeg(ffmpeg: string, format: string, input: Buffer, width: number | undefined, timeoutMs: number): Promise<Buffer> {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-threads', '1', '-f', format, '-i', 'pipe:0', '-an', '-frames:v', '1'];
  // -2 keeps the aspect ratio with an even height (4:2:0 chroma needs even dimensions).
  if (width !== undefined) args.push('-vf', `scale=${width}:-2`);
  // Full-range 4:2:0 is what JPEG viewers expect; ffmpeg's MJPEG encoder refuses limited range without it.
  args.push('-pix_fmt', 'yuvj420p', '-q:v', '3', '-f', 'mjpeg', 'pipe:1');
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let settled = false;
    const finish = (e: SnapshotError | null, jpeg?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e) {
        child.kill('SIGKILL');
        reject(e);
      } else resolve(jpeg!);
    };
    const timer = setTimeout(() => finish(new SnapshotError(500, 'snapshot_failed', `ffmpeg took longer than ${timeoutMs} ms`)), timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > MAX_JPEG_BYTES) finish(new SnapshotError(500, 'snapshot_failed', 'ffmpeg produced an oversized JPEG'));
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < 2000) err += b.toString('utf8');
    });
    child.on('error', (e) => finish(new SnapshotError(500, 'snapshot_failed', `cannot run ffmpeg: ${e.message}`)));
    child.on('close', (code) => {
      const jpeg = Buffer.concat(out);
      // A JPEG starts with SOI (FF D8).
      if (code === 0 && jpeg.length > 2 && jpeg[0] === 0xff && jpeg[1] === 0xd8) finish(null, jpeg);
      else finish(new SnapshotError(500, 'snapshot_failed', `ffmpeg could not decode the keyframe (exit ${code}): ${err.trim().split('\n')[0] ?? ''}`));
    });
    // ffmpeg may exit before reading everything (bad data): ignore EPIPE on its stdin.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
