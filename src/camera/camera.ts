import { EventEmitter } from 'node:events';
import type { CameraConfig } from '../config/types.ts';
import { splitCredentials } from '../config/credentials.ts';
import type { Stream } from '../stream/stream.ts';
import type { AccessUnit, TrackInfo } from '../stream/types.ts';
import { redactSecrets } from '../util/redact.ts';
import type { Source, SourceStart } from './source.ts';
import { DemoSource } from './demo.ts';
import { RtspSource } from './rtsp-source.ts';
import { PublisherSource } from './publisher.ts';
import { QualityMeter, type Quality } from './quality.ts';

export type CameraState = 'connecting' | 'streaming' | 'retrying' | 'idle' | 'disabled';

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface TrackStatus {
  kind: string;
  codec: string;
  codecString?: string;
  width?: number;
  height?: number;
  fps?: number;
  sampleRate?: number;
  channels?: number;
}

export interface CameraStatus {
  id: string;
  name: string;
  state: CameraState;
  lastError: string | null;
  since: string;
  reconnects: number;
  transport: string | null;
  tracks: TrackStatus[];
  quality: Quality;
  viewers: { hls: number; webrtc: number; rtsp: number };
  /** Workarounds applied for this camera (extra field). */
  quirks: string[];
  tags: string[];
  /** The camera's source URL with the password replaced by *** (extra field). */
  url: string;
  stream: string;
  /** Why an output leaves something out (e.g. HLS without G.711 audio); present when non-empty. */
  notes?: string[];
}

/** Reconnect back-off: capped exponential with ±20 % jitter. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Cap used after an authentication failure, so a wrong password doesn't lock the camera's account. */
  authMaxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 1000, authMaxMs: 30_000 };

export function backoffDelay(attempt: number, policy: BackoffPolicy, authFailure: boolean, random = Math.random): number {
  const cap = authFailure ? policy.authMaxMs : policy.maxMs;
  const base = Math.min(cap, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export interface CameraOptions {
  config: CameraConfig;
  /** Which URL of the camera this is: the main stream or the sub-stream. */
  which?: 'main' | 'sub';
  stream: Stream;
  logger: Logger;
  backoff?: BackoffPolicy;
  userAgent?: string;
}

/**
 * One state machine per camera stream: connecting → streaming → (error) → retrying → connecting…,
 * forever, with capped exponential back-off. Its state, last error and reconnect count are the
 * camera status.
 */
export class Camera extends EventEmitter {
  readonly id: string;
  readonly config: CameraConfig;
  readonly stream: Stream;
  readonly which: 'main' | 'sub';
  private state: CameraState = 'idle';
  private since = new Date();
  private lastError: string | null = null;
  private reconnects = 0;
  private attempt = 0;
  private transport: string | null = null;
  private quirks: string[] = [];
  private source: Source | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running = false;
  private generation = 0;
  private readonly quality = new QualityMeter();
  private readonly log: Logger;
  private readonly backoff: BackoffPolicy;

  constructor(private readonly opts: CameraOptions) {
    super();
    this.config = opts.config;
    this.id = opts.config.id;
    this.which = opts.which ?? 'main';
    this.stream = opts.stream;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.log = opts.logger;
    if (!opts.config.enabled) this.state = 'disabled';
  }

  private get url(): string {
    return (this.which === 'sub' ? this.config.sub : this.config.url) ?? '';
  }

  private setState(state: CameraState, error?: string | null): void {
    if (error !== undefined) this.lastError = error === null ? null : redactSecrets(error, this.secrets());
    if (state === this.state) return;
    const from = this.state;
    this.state = state;
    this.since = new Date();
    this.log.info({ camera: this.stream.name, from, to: state, lastError: this.lastError ?? undefined }, `camera ${this.stream.name}: ${state}`);
    this.emit('state', state);
  }

  private secrets(): string[] {
    const s: string[] = [];
    if (this.config.password) s.push(this.config.password);
    const creds = splitCredentials(this.url, this.config.username, this.config.password);
    if (creds.password) s.push(creds.password);
    return s;
  }

  get currentState(): CameraState {
    return this.state;
  }

  start(): void {
    if (!this.config.enabled) {
      this.setState('disabled');
      return;
    }
    if (this.running) return;
    this.running = true;
    void this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const src = this.source;
    this.source = undefined;
    this.stream.stop();
    if (src) await src.stop().catch(() => undefined);
    this.setState(this.config.enabled ? 'idle' : 'disabled', null);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.attempt = 0;
    this.start();
  }

  private makeSource(): Source {
    const url = this.url;
    if (url === 'builtin:demo') return new DemoSource();
    if (url === 'publisher') return new PublisherSource(this.stream);
    const creds = splitCredentials(url, this.config.username, this.config.password);
    return new RtspSource({
      url: creds.url,
      credentials: creds.username !== undefined ? { username: creds.username, password: creds.password ?? '' } : undefined,
      transport: this.config.transport,
      userAgent: this.opts.userAgent,
      logger: this.log,
    });
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.setState('connecting');
    const source = this.makeSource();
    this.source = source;
    let started: SourceStart;
    try {
      started = await source.start({
        accessUnit: (au) => {
          if (gen !== this.generation) return;
          this.onAccessUnit(au);
        },
        trackParams: (track, params) => {
          if (gen !== this.generation) return;
          this.stream.updateTrack(track, params);
        },
        close: (e) => {
          if (gen !== this.generation) return;
          this.fail(e ?? new Error('source closed'), source);
        },
        quirk: (name) => {
          if (this.quirks.includes(name)) return;
          this.quirks.push(name);
          this.log.info({ camera: this.stream.name, quirk: name }, `camera ${this.stream.name}: ${name}`);
        },
      });
    } catch (e) {
      if (gen !== this.generation) return;
      this.fail(e as Error, source);
      return;
    }
    if (gen !== this.generation) {
      await source.stop().catch(() => undefined);
      return;
    }
    this.transport = started.transport;
    this.quirks = [...new Set([...this.quirks, ...started.quirks])];
    this.quality.reset();
    this.stream.start(started.tracks);
    source.ready();
    this.attempt = 0;
    // Every successful session after the first one is a reconnect.
    if (this.hadStreamed) this.reconnects++;
    this.hadStreamed = true;
    this.setState('streaming', null);
    this.log.info(
      { camera: this.stream.name, transport: started.transport, tracks: started.tracks.map((t) => trackStatus(t)), quirks: started.quirks },
      `camera ${this.stream.name}: tracks`,
    );
  }

  private hadStreamed = false;
  private readonly notes = new Map<string, string>();

  /** Outputs explain here what they leave out and why (key: the output, e.g. 'hls'; undefined clears). */
  setNote(key: string, text: string | undefined): void {
    if (text) this.notes.set(key, text);
    else this.notes.delete(key);
  }

  private onAccessUnit(au: AccessUnit): void {
    au.epoch = this.stream.epoch;
    this.quality.add(au);
    this.stream.publish(au);
  }

  private fail(e: Error, source: Source): void {
    if (!this.running) return;
    this.generation++;
    void source.stop().catch(() => undefined);
    if (this.source === source) this.source = undefined;
    this.stream.stop();
    this.attempt++;
    const authFailure = (e as { kind?: string }).kind === 'auth' || (e as { statusCode?: number }).statusCode === 401;
    const delay = backoffDelay(this.attempt, this.backoff, authFailure);
    const message = e.message || String(e);
    this.setState('retrying', message);
    this.log.warn({ camera: this.stream.name, err: this.lastError, retryInMs: delay, attempt: this.attempt }, `camera ${this.stream.name}: ${this.lastError}`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.running) void this.connect();
    }, delay);
  }

  status(viewers = { hls: 0, webrtc: 0, rtsp: 0 }): CameraStatus {
    const rtp = this.source?.rtpQuality?.();
    return {
      id: this.which === 'sub' ? `${this.id}/sub` : this.id,
      name: this.config.name,
      state: this.state,
      lastError: this.lastError,
      since: this.since.toISOString(),
      reconnects: this.reconnects,
      transport: this.state === 'streaming' ? this.transport : null,
      tracks: this.stream.tracks.map((t) => trackStatus(t)),
      quality: this.quality.snapshot(rtp),
      viewers,
      quirks: this.quirks,
      tags: this.config.tags,
      url: redactSecrets(this.url, this.secrets()),
      stream: this.stream.name,
      ...(this.notes.size > 0 ? { notes: [...this.notes.values()] } : {}),
    };
  }
}

export function trackStatus(t: TrackInfo): TrackStatus {
  const p = t.params;
  const s: TrackStatus = { kind: t.kind, codec: t.codec };
  if (p.codecString) s.codecString = p.codecString;
  if (t.kind === 'video') {
    if (p.width) s.width = p.width;
    if (p.height) s.height = p.height;
    if (p.fps) s.fps = Math.round(p.fps * 100) / 100;
  } else {
    s.sampleRate = p.sampleRate ?? t.clockRate;
    s.channels = p.channels ?? 1;
  }
  return s;
}
