import type { AccessUnit } from './types.ts';

export interface ConsumerOptions {
  /** Most access units held for this consumer (default 1024). */
  maxUnits?: number;
  /** Most payload bytes held for this consumer (default 16 MiB). */
  maxBytes?: number;
  /** Start from the GOP cache, so the consumer gets a keyframe at once (default true). */
  fromGop?: boolean;
  /** Only these track ids (default all). */
  tracks?: number[];
  /** Free-form label shown in stats ("hls", "whep:<id>", "rtsp:<addr>"). */
  label?: string;
}

export interface ConsumerStats {
  label: string;
  queuedUnits: number;
  queuedBytes: number;
  delivered: number;
  /** Times the queue overflowed and was dropped back to the next keyframe. */
  overflows: number;
  /** Access units discarded by overflows and while waiting for a keyframe. */
  droppedUnits: number;
}

export function auBytes(au: AccessUnit): number {
  let n = 0;
  for (const b of au.data) n += b.length;
  return n;
}

/**
 * A bounded queue from the hub to one output. A consumer that falls behind never makes memory grow:
 * when its queue is full it is dropped back to the next keyframe (video) and the overflow is counted.
 */
export class Consumer implements AsyncIterable<AccessUnit> {
  readonly label: string;
  private readonly maxUnits: number;
  private readonly maxBytes: number;
  private readonly trackFilter?: Set<number>;
  private queue: AccessUnit[] = [];
  private head = 0;
  private bytes = 0;
  private waitingKeyframe = false;
  private waiter: ((au: AccessUnit | null) => void) | null = null;
  private closed = false;
  private delivered = 0;
  private overflows = 0;
  private droppedUnits = 0;
  /** Set by the stream: whether the stream has a video track (keyframe resync applies to video). */
  hasVideo: () => boolean = () => true;
  onClose?: () => void;
  /**
   * Synchronous delivery: with an empty queue, a published unit is handed to `push` inside publish()
   * itself, with no promise or task in between; `push` returns false when it can't take the unit now
   * (it then queues, or goes to a waiting next(), as usual).
   */
  push: ((au: AccessUnit) => boolean) | undefined;

  constructor(opts: ConsumerOptions = {}) {
    this.label = opts.label ?? 'consumer';
    this.maxUnits = Math.max(1, opts.maxUnits ?? 1024);
    this.maxBytes = Math.max(1, opts.maxBytes ?? 16 * 1024 * 1024);
    if (opts.tracks) this.trackFilter = new Set(opts.tracks);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get size(): number {
    return this.queue.length - this.head;
  }

  /** Called by the stream for every published access unit. */
  offer(au: AccessUnit): void {
    if (this.closed) return;
    if (this.trackFilter && !this.trackFilter.has(au.track)) return;
    if (this.waitingKeyframe) {
      const isVideo = au.codec === 'H264' || au.codec === 'H265' || au.codec === 'MJPEG';
      if (!(isVideo && au.keyframe)) {
        this.droppedUnits++;
        return;
      }
      this.waitingKeyframe = false;
    }
    if (this.push !== undefined && this.head >= this.queue.length && this.push(au)) {
      this.delivered++;
      return;
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      this.delivered++;
      w(au);
      return;
    }
    const size = auBytes(au);
    if (this.size + 1 > this.maxUnits || this.bytes + size > this.maxBytes) {
      this.overflow();
      const isVideo = au.codec === 'H264' || au.codec === 'H265' || au.codec === 'MJPEG';
      if (this.waitingKeyframe && !(isVideo && au.keyframe)) {
        this.droppedUnits++;
        return;
      }
      this.waitingKeyframe = false;
    }
    this.queue.push(au);
    this.bytes += size;
  }

  private overflow(): void {
    this.overflows++;
    this.droppedUnits += this.size;
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    this.waitingKeyframe = this.hasVideo();
  }

  /** Take the next queued access unit without waiting. */
  tryNext(): AccessUnit | undefined {
    if (this.head >= this.queue.length) return undefined;
    const au = this.queue[this.head]!;
    this.queue[this.head] = undefined as unknown as AccessUnit;
    this.head++;
    this.bytes -= auBytes(au);
    if (this.head > 256 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.delivered++;
    return au;
  }

  /** Wait for the next access unit; null once the consumer is closed. */
  next(): Promise<AccessUnit | null> {
    const au = this.tryNext();
    if (au) return Promise.resolve(au);
    if (this.closed) return Promise.resolve(null);
    if (this.waiter) return Promise.reject(new Error('Consumer.next() called concurrently'));
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AccessUnit> {
    for (;;) {
      const au = await this.next();
      if (!au) return;
      yield au;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.bytes = 0;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(null);
    }
    this.onClose?.();
  }

  stats(): ConsumerStats {
    return {
      label: this.label,
      queuedUnits: this.size,
      queuedBytes: this.bytes,
      delivered: this.delivered,
      overflows: this.overflows,
      droppedUnits: this.droppedUnits,
    };
  }
}
