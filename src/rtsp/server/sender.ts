/**
 * Sends one stream to one destination as RTP: a reader session (TCP interleaved or UDP unicast) or a
 * multicast group. It consumes the hub through its own bounded Consumer and sends RTCP sender reports
 * whose NTP/RTP pairs come from the access units' wall clock (the camera's clock, via its SRs).
 *
 * Unicast readers send the stream's shared frames (`StreamRtp`: one SSRC, numbering and set of bytes
 * per access unit for all readers). A multicast group is a single sender and numbers its own packets.
 */
import { randomInt } from 'node:crypto';
import type { Stream } from '../../stream/stream.ts';
import type { Consumer } from '../../stream/consumer.ts';
import type { AccessUnit, TrackInfo } from '../../stream/types.ts';
import type { RtpPayload } from '../../codecs/payload.ts';
import { payloadSize } from '../../codecs/payload.ts';
import { buildSenderReport } from '../../rtp/rtcp.ts';
import { payloadsOf } from './media.ts';
import { mod32, writeRtpHeader, type RtpFrame, type SharedTrack, type StreamRtp } from './shared.ts';

export { writeRtpHeader };

/** Per-track RTP state of one sender: the shared track state plus its own RTCP counters. */
export interface SenderTrack extends SharedTrack {
  lastSentAt?: number;
  packets: number;
  octets: number;
  lastSrAt?: number;
}

export interface RtpSink {
  /** Bytes accepted but not yet handed to the kernel (TCP); 0 for datagram sinks. */
  backlog(): number;
  /** Resolves true once the backlog drained, false after `ms` without it (or when the sink closed). */
  waitDrain(ms: number): Promise<boolean>;
  /**
   * The RTP packets of one access unit of one track, numbered by this sender (multicast groups):
   * headers to be written, payloads after them. Sinks of unicast readers only take shared frames.
   */
  sendRtp?(track: SenderTrack, packets: { header: Buffer; payload: RtpPayload }[]): void;
  /** One access unit in the stream's shared form (the same bytes for every unicast reader). */
  sendFrame(track: SenderTrack, frame: RtpFrame): void;
  sendRtcp(track: SenderTrack, packet: Buffer): void;
}

export interface SenderOptions {
  label: string;
  srIntervalMs: number;
  /** Backlog above which the sender stops taking access units (the consumer queue then overflows). */
  highWaterBytes: number;
  /** How long the backlog may stay above the high-water mark before the reader counts as stuck. */
  stuckTimeoutMs: number;
  maxQueueUnits?: number;
  maxQueueBytes?: number;
  /** Called once when the sender stops by itself: 'stuck', 'closed' or 'tracks-changed'. */
  onEnd?: (reason: 'stuck' | 'closed' | 'tracks-changed') => void;
}

export function newSenderTrack(t: TrackInfo, payloadType: number): SenderTrack {
  return {
    trackId: t.id,
    codec: t.codec,
    clockRate: t.clockRate,
    channels: t.params.channels ?? 1,
    payloadType,
    ssrc: randomInt(1, 0xffffffff),
    seq: randomInt(0, 0x10000),
    rtpStart: randomInt(0, 0xffffffff),
    packets: 0,
    octets: 0,
  };
}

export class RtpSender {
  readonly tracks = new Map<number, SenderTrack>();
  private consumer: Consumer | undefined;
  private stopped = false;
  private srTimer: NodeJS.Timeout | undefined;
  /** Wall-clock instant (ms) that RTP-Info's rtptime values stand for. */
  private refWall = Date.now();
  bytesSent = 0;
  /** Times the sink stayed backed up past the high-water mark (then the queue drops to a keyframe). */
  stalls = 0;
  private releaseShared: (() => void) | undefined;
  /** The loop waits on an empty queue: units may be sent as they are published (see sendNow). */
  private idle = false;

  /** `shared`: send the stream's shared frames (unicast readers); the tracks must carry its SSRCs. */
  constructor(
    private readonly stream: Stream,
    tracks: SenderTrack[],
    private readonly sink: RtpSink,
    private readonly opts: SenderOptions,
    private readonly shared?: StreamRtp,
  ) {
    for (const t of tracks) this.tracks.set(t.trackId, t);
    if (!shared && !sink.sendRtp) throw new Error('a sender with its own numbering needs a sink that takes RTP packets');
  }

  /**
   * Subscribes, starting at the last keyframe of the GOP cache. Returns RTP-Info per track: the
   * sequence number and RTP time of the first packet. Call before the PLAY response is written; call
   * run() after it, so no RTP precedes the response on a TCP connection.
   */
  prepare(): { trackId: number; seq: number; rtptime: number }[] {
    // The numbering consumer subscribes before ours, so every unit we get is numbered in order.
    if (this.shared) this.releaseShared ??= this.shared.acquire();
    const snap = this.stream.gopSnapshot();
    this.refWall = snap[0]?.wallclock ?? Date.now();
    if (this.shared) return this.prepareShared(snap, this.shared);
    this.consumer = this.stream.subscribe({
      label: this.opts.label,
      tracks: [...this.tracks.keys()],
      maxUnits: this.opts.maxQueueUnits ?? 1024,
      maxBytes: this.opts.maxQueueBytes ?? 8 * 1024 * 1024,
    });
    return [...this.tracks.values()].map((t) => ({ trackId: t.trackId, seq: t.seq, rtptime: t.rtpStart >>> 0 }));
  }

  /**
   * RTP-Info from the shared numbering: per track, the sequence number of the first packet this reader
   * gets and the RTP time of the GOP's keyframe instant (the same instant on every track, so players
   * that align tracks by RTP-Info are in sync before the first SR).
   */
  private prepareShared(snap: AccessUnit[], shared: StreamRtp): { trackId: number; seq: number; rtptime: number }[] {
    this.consumer = this.stream.subscribe({
      label: this.opts.label,
      tracks: [...this.tracks.keys()],
      maxUnits: this.opts.maxQueueUnits ?? 1024,
      maxBytes: this.opts.maxQueueBytes ?? 8 * 1024 * 1024,
    });
    return [...this.tracks.values()].map((t) => {
      const st = shared.tracks.get(t.trackId);
      let first: RtpFrame | undefined;
      for (const au of snap) {
        if (au.track !== t.trackId) continue;
        first = shared.frame(au);
        if (first) break;
      }
      if (first) return { trackId: t.trackId, seq: first.seq, rtptime: mod32(first.rtp - ((first.wallclock - this.refWall) * first.track.clockRate) / 1000) };
      if (!st) return { trackId: t.trackId, seq: t.seq, rtptime: t.rtpStart >>> 0 };
      return { trackId: t.trackId, seq: st.seq, rtptime: mod32(shared.rtpAt(st, this.refWall)) };
    });
  }

  /** RTP-Info for a reader joining a sender that already runs (multicast). */
  currentRtpInfo(): { trackId: number; seq: number; rtptime: number }[] {
    return [...this.tracks.values()].map((t) => {
      let rtp = t.rtpStart;
      if (t.lastRtp !== undefined && t.lastSentAt !== undefined) rtp = t.lastRtp + ((Date.now() - t.lastSentAt) * t.clockRate) / 1000;
      return { trackId: t.trackId, seq: t.seq, rtptime: mod32(rtp) };
    });
  }

  run(): void {
    if (!this.consumer) this.prepare();
    this.srTimer = setInterval(() => this.sendReports(false), Math.max(100, Math.min(this.opts.srIntervalMs, 1000)));
    this.srTimer.unref();
    this.consumer!.push = (au) => this.sendNow(au);
    void this.loop();
  }

  /**
   * A unit sent inside Stream.publish, when this reader is caught up: nothing queued, the loop idle and
   * the sink not backed up. Anything else goes through the loop, which keeps the order and waits.
   */
  private sendNow(au: AccessUnit): boolean {
    if (!this.idle || this.stopped) return false;
    const t = this.tracks.get(au.track);
    if (!t) return true;
    if (au.codec !== t.codec || this.sink.backlog() > this.opts.highWaterBytes) {
      // From here on the loop has a unit to handle first: later units must queue behind it.
      this.idle = false;
      return false;
    }
    try {
      if (this.shared) this.sendShared(t, au, this.shared);
      else this.send(t, au);
    } catch {
      // Only a closing sink throws (its connection's close ends the session): the unit is dropped
      // here, where an exception would otherwise unwind into the publisher's socket handler.
    }
    return true;
  }

  get consumerStats() {
    return this.consumer?.stats();
  }

  private async loop(): Promise<void> {
    const c = this.consumer!;
    let reason: 'stuck' | 'closed' | 'tracks-changed' = 'closed';
    for (;;) {
      let au = c.tryNext();
      if (!au) {
        this.idle = true;
        au = (await c.next()) ?? undefined;
        this.idle = false;
      }
      if (!au || this.stopped) break;
      const t = this.tracks.get(au.track);
      if (!t) continue;
      if (au.codec !== t.codec) {
        // The source came back with other codecs: this reader's SDP no longer describes the stream.
        reason = 'tracks-changed';
        break;
      }
      if (this.sink.backlog() > this.opts.highWaterBytes) {
        this.stalls++;
        const before = c.stats().overflows;
        const drained = await this.sink.waitDrain(this.opts.stuckTimeoutMs);
        if (this.stopped) break;
        if (!drained) {
          reason = 'stuck';
          break;
        }
        // The queue overflowed while we waited: it restarts at a keyframe, so skip the stale unit.
        if (c.stats().overflows !== before && !au.keyframe) continue;
      }
      if (this.shared) this.sendShared(t, au, this.shared);
      else this.send(t, au);
    }
    const wasStopped = this.stopped;
    this.stop();
    if (!wasStopped) this.opts.onEnd?.(reason);
  }

  /** RTP time of an access unit: pts + offset, re-based at each source epoch so time never jumps. */
  private rtpTime(t: SenderTrack, au: AccessUnit): number {
    if (t.offset === undefined || t.epoch !== au.epoch) {
      if (t.lastRtp === undefined || t.lastWall === undefined) {
        // First unit: align every track on the same wall-clock instant, the one RTP-Info names.
        const ptsAtRef = au.pts - ((au.wallclock - this.refWall) * t.clockRate) / 1000;
        t.offset = t.rtpStart - ptsAtRef;
      } else {
        // Reconnect: continue from the last timestamp by the wall-clock time that passed.
        const target = t.lastRtp + Math.max(1, ((au.wallclock - t.lastWall) * t.clockRate) / 1000);
        t.offset = target - au.pts;
      }
      t.epoch = au.epoch;
    }
    return Math.round(au.pts + t.offset);
  }

  private send(t: SenderTrack, au: AccessUnit): void {
    const payloads = payloadsOf(au, t.channels);
    if (payloads.length === 0) return;
    const rtp = this.rtpTime(t, au);
    const ts = mod32(rtp);
    const packets: { header: Buffer; payload: RtpPayload }[] = [];
    let octets = 0;
    for (const p of payloads) {
      const header = Buffer.allocUnsafe(12);
      writeRtpHeader(header, 0, t.payloadType, p.marker, t.seq, ts + (p.tsDelta ?? 0), t.ssrc);
      t.seq = (t.seq + 1) & 0xffff;
      packets.push({ header, payload: p });
      octets += payloadSize(p);
    }
    this.sink.sendRtp!(t, packets);
    t.packets += packets.length;
    t.octets += octets;
    this.bytesSent += octets + 12 * packets.length;
    t.lastRtp = rtp;
    t.lastWall = au.wallclock;
    t.lastSentAt = Date.now();
    // A first SR right away lets readers sync audio and video from the start (RFC 3550 §6.4.1).
    if (t.lastSrAt === undefined) this.sendReport(t);
  }

  private sendShared(t: SenderTrack, au: AccessUnit, shared: StreamRtp): void {
    const f = shared.frame(au);
    if (!f) return;
    this.sink.sendFrame(t, f);
    t.packets += f.count;
    t.octets += f.octets;
    this.bytesSent += f.octets + 12 * f.count;
    t.ssrc = f.track.ssrc;
    t.seq = (f.seq + f.count) & 0xffff;
    t.lastRtp = f.rtp;
    t.lastWall = au.wallclock;
    t.lastSentAt = Date.now();
    if (t.lastSrAt === undefined) this.sendReport(t);
  }

  private sendReports(force: boolean): void {
    const now = Date.now();
    for (const t of this.tracks.values()) {
      if (t.lastSentAt === undefined) continue;
      if (!force && t.lastSrAt !== undefined && now - t.lastSrAt < this.opts.srIntervalMs) continue;
      this.sendReport(t);
    }
  }

  /** SR for a track: the last unit's (wall clock, RTP time) pair moved forward by the time since it went out. */
  private sendReport(t: SenderTrack): void {
    if (t.lastRtp === undefined || t.lastWall === undefined || t.lastSentAt === undefined) return;
    const now = Date.now();
    const elapsed = now - t.lastSentAt;
    const rtp = t.lastRtp + (elapsed * t.clockRate) / 1000;
    const sr = buildSenderReport({
      ssrc: t.ssrc,
      ntpMs: t.lastWall + elapsed,
      rtpTime: mod32(rtp),
      packetCount: t.packets,
      octetCount: t.octets,
      cname: 'camgate',
    });
    t.lastSrAt = now;
    try {
      this.sink.sendRtcp(t, sr);
    } catch {
      // a report that can't be sent is no reason to end the session
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.srTimer) clearInterval(this.srTimer);
    this.srTimer = undefined;
    this.consumer?.close();
    this.releaseShared?.();
    this.releaseShared = undefined;
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}
