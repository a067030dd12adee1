/**
 * Fan-out of one stream's access units to the WHEP peers of one thread: packetize each access unit
 * once, then give every peer its own RTP sequence numbers and timestamps. Also the GOP cache this
 * thread keeps per stream, used for the first frame of a new viewer and to answer PLI/FIR.
 */
import { H264Packetizer } from '../codecs/h264/packetizer.ts';
import { H265Packetizer } from '../codecs/h265/packetizer.ts';
import type { AccessUnit } from '../stream/types.ts';
import type { OutPayload, OutTrack, WhepPeer } from './peer.ts';

/** RTP payload budget (the 1200 bytes: fits any path MTU with SRTP, extensions and TURN). */
export const RTP_MTU = 1200;
/** GOP cache bounds per stream and thread. */
const GOP_MAX_UNITS = 1500;
const GOP_MAX_BYTES = 8 * 1024 * 1024;
/** Packets per pacing tick while a burst is queued (48 per ms ≈ 460 Mbit/s, below what loopback drops). */
const BURST_PACKETS_PER_TICK = 48;
/** A PLI/FIR is answered at most this often per peer. */
const KEYFRAME_RESEND_MIN_MS = 500;
/** Track id offset of audio transcoded to Opus by the main thread (track 1 AAC → 1001 Opus). */
export const TRANSCODED_TRACK_OFFSET = 1000;

export interface WireUnit {
  au: AccessUnit;
  payloads: Map<string, OutPayload[]>;
}

function payloadsFor(unit: WireUnit, codec: string): OutPayload[] {
  let p = unit.payloads.get(codec);
  if (p) return p;
  const au = unit.au;
  if (codec === 'H264' || codec === 'H265') {
    const pk = codec === 'H264' ? new H264Packetizer({ payloadType: 0, ssrc: 0, mtu: RTP_MTU, initialSequence: 0 }) : new H265Packetizer({ payloadType: 0, ssrc: 0, mtu: RTP_MTU, initialSequence: 0 });
    p = pk.packetize(au.data, 0).map((b) => ({ payload: b.subarray(12), marker: (b[1]! & 0x80) !== 0 }));
  } else {
    // Audio: one frame per packet (RFC 7587 Opus, RFC 3551 G.711); marker unused.
    p = au.data.map((d) => ({ payload: d, marker: false }));
  }
  unit.payloads.set(codec, p);
  return p;
}

interface TrackState {
  anchor?: number;
  base: number;
  epoch: number;
  lastOut?: number;
  lastKeyframeResend: number;
}

/**
 * Paces one peer's packets: up to BURST_PACKETS_PER_TICK leave at once, the rest at that rate per
 * millisecond, in order. Shared by every feed of a peer, so a bundled session (16 tiles' GOP bursts
 * on one socket at connect) is bounded like a single stream: the browser's one UDP socket has one
 * receive buffer.
 */
export class Pacer {
  private readonly queue: { out: OutTrack; p: OutPayload; ts: number; wc: number }[] = [];
  private head = 0;
  private windowStart = -Infinity;
  private used = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly closed: () => boolean) {}

  get idle(): boolean {
    return this.head >= this.queue.length;
  }

  send(out: OutTrack, payloads: OutPayload[], ts: number, wc: number): void {
    let k = 0;
    if (this.idle) {
      // What fits in this millisecond's budget leaves now (a live frame: all of it), the rest is queued.
      const now = performance.now();
      if (now - this.windowStart >= 1) {
        this.windowStart = now;
        this.used = 0;
      }
      const n = Math.min(payloads.length, BURST_PACKETS_PER_TICK - this.used);
      for (; k < n; k++) out.send(payloads[k]!, ts, wc);
      this.used += n;
      if (k === payloads.length) return;
    }
    for (; k < payloads.length; k++) this.queue.push({ out, p: payloads[k]!, ts, wc });
    this.timer ??= setTimeout(() => this.tick(), 1);
  }

  private tick(): void {
    this.timer = undefined;
    if (this.closed()) {
      this.queue.length = 0;
      this.head = 0;
      return;
    }
    const end = Math.min(this.queue.length, this.head + BURST_PACKETS_PER_TICK);
    for (; this.head < end; this.head++) {
      const q = this.queue[this.head]!;
      q.out.send(q.p, q.ts, q.wc);
    }
    this.windowStart = performance.now();
    this.used = BURST_PACKETS_PER_TICK;
    if (this.head >= this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else this.timer = setTimeout(() => this.tick(), 1);
  }
}

/** Per-peer sending state for one stream, kept beside the peer so the peer class stays protocol-only. */
export class PeerFeed {
  readonly states = new Map<number, TrackState>();
  keyframesResent = 0;

  /**
   * @param indices the peer's tracks this feed sends (all of them, or a bundled session's tracks of `stream`)
   * @param pacer shared by the peer's feeds
   */
  constructor(
    readonly peer: WhepPeer,
    readonly stream: string,
    indices: number[],
    private readonly pacer: Pacer,
  ) {
    for (const i of indices) this.states.set(i, { base: peer.tracks[i]!.tsBase, epoch: -1, lastKeyframeResend: 0 });
  }

  private sourceTrack(i: number): number {
    const plan = this.peer.tracks[i]!.plan;
    return plan.transcode ? TRANSCODED_TRACK_OFFSET + plan.track : plan.track;
  }

  /** A live unit from the hub. */
  deliver(unit: WireUnit): void {
    if (!this.peer.connected || this.peer.isClosed) return;
    const au = unit.au;
    for (const i of this.states.keys()) {
      if (this.sourceTrack(i) !== au.track) continue;
      const out = this.peer.tracks[i]!;
      const st = this.states.get(i)!;
      const video = out.plan.kind === 'video';
      if (st.anchor === undefined || st.epoch !== au.epoch) {
        // Start (or restart after a camera reconnect): video waits for a keyframe; timestamps continue
        // 100 ms after the last one so the browser sees a jump forward, never backwards.
        if (video && !au.keyframe) continue;
        if (st.lastOut !== undefined) st.base = st.lastOut + Math.round(out.plan.clockRate / 10);
        st.anchor = au.pts;
        st.epoch = au.epoch;
      }
      const ts = st.base + (au.pts - st.anchor);
      this.send(i, payloadsFor(unit, out.plan.codec), ts, au.wallclock);
    }
  }

  /**
   * First frame: the cached GOP, sent at once with its timestamps compressed into the millisecond
   * before the live edge, so the decoder gets a keyframe immediately and the next live frame is
   * exactly on time (no standing latency). See docs/design.md "WHEP".
   */
  startFromGop(gop: WireUnit[]): void {
    for (const i of this.states.keys()) {
      const out = this.peer.tracks[i]!;
      if (out.plan.kind !== 'video') continue;
      const units = gop.filter((u) => u.au.track === out.plan.track);
      if (units.length === 0 || !units[0]!.au.keyframe) continue;
      const st = this.states.get(i)!;
      const last = units[units.length - 1]!.au;
      st.anchor = last.pts;
      st.epoch = last.epoch;
      const n = units.length;
      units.forEach((u, k) => {
        // 1 tick apart, ending on the live edge: decodable, never presented late.
        const ts = st.base - (n - 1 - k);
        this.send(i, payloadsFor(u, out.plan.codec), ts, u.au.wallclock);
      });
    }
  }

  /**
   * PLI/FIR: resend the cached GOP with timestamps just after the last sent frame (one tick apart),
   * so the picture repairs without shifting the timeline. Throttled; counted.
   */
  resendGop(trackIndex: number, gop: WireUnit[]): boolean {
    const out = this.peer.tracks[trackIndex];
    const st = this.states.get(trackIndex);
    if (!out || !st || st.lastOut === undefined || st.anchor === undefined) return false;
    const now = Date.now();
    if (now - st.lastKeyframeResend < KEYFRAME_RESEND_MIN_MS) return false;
    const units = gop.filter((u) => u.au.track === out.plan.track && u.au.epoch === st.epoch);
    if (units.length === 0 || !units[0]!.au.keyframe) return false;
    // Only when the whole GOP fits between two live frames (ticks), i.e. no timeline shift.
    if (units.length >= out.plan.clockRate / 100) return false;
    st.lastKeyframeResend = now;
    const from = st.lastOut;
    units.forEach((u, k) => this.send(trackIndex, payloadsFor(u, out.plan.codec), from + 1 + k, u.au.wallclock));
    // Live frames must stay after the resent ones.
    const nextLive = st.base + (units[units.length - 1]!.au.pts - st.anchor);
    if (nextLive <= from + units.length) st.base += from + units.length + 1 - nextLive;
    this.keyframesResent++;
    return true;
  }

  private send(i: number, payloads: OutPayload[], ts: number, wc: number): void {
    this.states.get(i)!.lastOut = ts;
    this.pacer.send(this.peer.tracks[i]!, payloads, ts, wc);
  }
}

/** Per stream, per thread: the GOP cache (video from its last keyframe) and the peers watching. */
export class StreamFanout {
  readonly feeds = new Set<PeerFeed>();
  private gop: WireUnit[] = [];
  private gopBytes = 0;
  units = 0;
  /** Skipping to the next keyframe because this thread fell behind (Engine.catchUp). */
  skipping = false;

  constructor(readonly name: string) {}

  push(au: AccessUnit): void {
    const unit: WireUnit = { au, payloads: new Map() };
    this.units++;
    const isVideo = au.codec === 'H264' || au.codec === 'H265';
    if (isVideo) this.cache(unit);
    for (const f of this.feeds) f.deliver(unit);
  }

  private cache(unit: WireUnit): void {
    let size = 0;
    for (const d of unit.au.data) size += d.length;
    if (unit.au.keyframe) {
      this.gop = [unit];
      this.gopBytes = size;
      return;
    }
    if (this.gop.length === 0) return;
    if (this.gop.length >= GOP_MAX_UNITS || this.gopBytes + size > GOP_MAX_BYTES || unit.au.epoch !== this.gop[0]!.au.epoch) {
      this.gop = [];
      this.gopBytes = 0;
      return;
    }
    this.gop.push(unit);
    this.gopBytes += size;
  }

  gopUnits(): WireUnit[] {
    return this.gop;
  }

  reset(): void {
    this.gop = [];
    this.gopBytes = 0;
  }
}
