import { EventEmitter } from 'node:events';
import { ReorderDetector } from '../codecs/dts.ts';
import type { AccessUnit, TrackInfo } from './types.ts';
import { Consumer, auBytes, type ConsumerOptions } from './consumer.ts';
import { scavengeWhenIdle } from '../util/idle-gc.ts';

export interface GopCacheLimits {
  /** Most access units kept in the GOP cache (default 2000: a 10 s GOP at 100 fps with audio). */
  maxUnits: number;
  /** Most payload bytes kept in the GOP cache (default 32 MiB). */
  maxBytes: number;
}

const VIDEO_CODECS = new Set(['H264', 'H265', 'MJPEG']);

export function isVideoAu(au: AccessUnit): boolean {
  return VIDEO_CODECS.has(au.codec);
}

export interface StreamStats {
  accessUnits: number;
  bytes: number;
  gopUnits: number;
  gopBytes: number;
  /** Times the GOP cache hit its limit and was emptied until the next keyframe. */
  gopOverflows: number;
  consumers: number;
}

/**
 * A Stream is one camera (or sub-stream) in the hub: its tracks, the GOP cache (the last keyframe
 * onward, so a new viewer can start at once), and the consumers (one bounded queue per output).
 *
 * Events: 'tracks' (TrackInfo[]) when the track set or codec parameters change;
 * 'online' / 'offline' when the source starts or stops publishing.
 */
export class Stream extends EventEmitter {
  readonly name: string;
  private _tracks: TrackInfo[] = [];
  private _online = false;
  private _epoch = 0;
  private gop: AccessUnit[] = [];
  private gopBytes = 0;
  private gopOverflows = 0;
  private readonly limits: GopCacheLimits;
  private readonly consumers = new Set<Consumer>();
  private accessUnits = 0;
  private bytes = 0;
  /** The last access unit per track (audio-only streams start from here). */
  private lastAudio: AccessUnit[] = [];
  /** Video frames of this epoch presented before earlier ones (see videoReordered). */
  private reorder = new ReorderDetector();

  constructor(name: string, limits: Partial<GopCacheLimits> = {}) {
    super();
    this.name = name;
    this.limits = { maxUnits: limits.maxUnits ?? 2000, maxBytes: limits.maxBytes ?? 32 * 1024 * 1024 };
  }

  get tracks(): readonly TrackInfo[] {
    return this._tracks;
  }

  get online(): boolean {
    return this._online;
  }

  /** Incremented on every (re)start of the source; outputs insert a discontinuity when it changes. */
  get epoch(): number {
    return this._epoch;
  }

  /**
   * Video frames of this epoch arrived out of presentation order (B-frames): frames presented
   * between frames decoded before them (ReorderDetector; a clock jump is not that). Outputs that
   * need presentation order (WebRTC) refuse such a stream.
   */
  get videoReordered(): boolean {
    return this.reorder.reordered;
  }

  get hasVideo(): boolean {
    return this._tracks.some((t) => t.kind === 'video');
  }

  /** The source (re)started with these tracks. Clears the GOP cache: timestamps restart. */
  start(tracks: TrackInfo[]): number {
    this._epoch++;
    this.reorder = new ReorderDetector();
    this._tracks = tracks.map((t) => ({ ...t, params: { ...t.params } }));
    this.clearGop();
    this.lastAudio = [];
    this._online = true;
    this.emit('tracks', this._tracks);
    this.emit('online');
    return this._epoch;
  }

  /** Codec parameters of a track changed (new SPS, in-band config…). */
  updateTrack(id: number, params: TrackInfo['params']): void {
    const t = this._tracks[id];
    if (!t) return;
    t.params = { ...t.params, ...params };
    this.emit('tracks', this._tracks);
  }

  stop(): void {
    if (!this._online) return;
    this._online = false;
    this.clearGop();
    this.lastAudio = [];
    this.emit('offline');
  }

  private clearGop(): void {
    this.gop = [];
    this.gopBytes = 0;
  }

  publish(au: AccessUnit): void {
    if (isVideoAu(au)) this.reorder.push(au.pts);
    const size = auBytes(au);
    this.accessUnits++;
    this.bytes += size;
    this.cache(au, size);
    for (const c of this.consumers) c.offer(au);
    scavengeWhenIdle();
  }

  private cache(au: AccessUnit, size: number): void {
    if (!this.hasVideo) {
      // Audio-only: keep just the latest unit per track; any audio frame is a start point.
      this.lastAudio[au.track] = au;
      return;
    }
    if (isVideoAu(au) && au.keyframe) {
      this.gop = [au];
      this.gopBytes = size;
      return;
    }
    if (this.gop.length === 0) return; // waiting for the first keyframe
    if (this.gop.length + 1 > this.limits.maxUnits || this.gopBytes + size > this.limits.maxBytes) {
      // A GOP longer than the cache can hold: forget it until the next keyframe rather than grow.
      this.gopOverflows++;
      this.clearGop();
      return;
    }
    this.gop.push(au);
    this.gopBytes += size;
  }

  /** The cached access units from the last keyframe onward (empty before the first keyframe). */
  gopSnapshot(): AccessUnit[] {
    if (!this.hasVideo) return this.lastAudio.filter(Boolean);
    return this.gop.slice();
  }

  /** The last cached keyframe, if any (for snapshots and WebRTC first frames). */
  lastKeyframe(): AccessUnit | undefined {
    return this.gop[0];
  }

  subscribe(opts: ConsumerOptions = {}): Consumer {
    const c = new Consumer(opts);
    c.hasVideo = () => this.hasVideo;
    if (opts.fromGop !== false) for (const au of this.gopSnapshot()) c.offer(au);
    this.consumers.add(c);
    c.onClose = () => {
      this.consumers.delete(c);
      this.emit('consumers', this.consumers.size);
    };
    this.emit('consumers', this.consumers.size);
    return c;
  }

  consumerList(): Consumer[] {
    return [...this.consumers];
  }

  stats(): StreamStats {
    return {
      accessUnits: this.accessUnits,
      bytes: this.bytes,
      gopUnits: this.gop.length,
      gopBytes: this.gopBytes,
      gopOverflows: this.gopOverflows,
      consumers: this.consumers.size,
    };
  }

  /** Close every consumer (the stream is being removed). */
  close(): void {
    this.stop();
    for (const c of [...this.consumers]) c.close();
    this.removeAllListeners();
  }
}

/** The hub: every stream by name (`<camera>` and `<camera>/sub`). */
export class StreamHub extends EventEmitter {
  private readonly streams = new Map<string, Stream>();

  get(name: string): Stream | undefined {
    return this.streams.get(name);
  }

  getOrCreate(name: string): Stream {
    let s = this.streams.get(name);
    if (!s) {
      s = new Stream(name);
      this.streams.set(name, s);
      this.emit('stream', s);
    }
    return s;
  }

  delete(name: string): void {
    const s = this.streams.get(name);
    if (!s) return;
    this.streams.delete(name);
    s.close();
  }

  list(): Stream[] {
    return [...this.streams.values()];
  }
}
