/**
 * Per-stream RTP receiver: RFC 3550 A.1 sequence validation (extended sequence numbers, resync after
 * a big jump), A.3 loss accounting, A.8 interarrival jitter, a bounded reorder buffer (UDP), duplicate
 * suppression, 32-bit timestamp unwrapping with re-basing across camera clock jumps, and SR-based
 * wall-clock mapping. No sockets, no timers:
 * the caller feeds datagrams, calls `flush()` from its own timer, and injects `now()`. Survives the
 * wrap, loss, reordering and duplicates of QUIRKS Q45 and camera restarts (new SSRC or sequence).
 *
 * Buffering note: delivered `packet.payload` is a subarray of the buffer given to `pushRtp`; with
 * reordering on, that buffer is referenced until the packet is delivered, so callers must not reuse it.
 */
import { parseRtpPacket } from './packet.ts';
import type { RtpPacket } from './packet.ts';
import type { ReportBlock, RtcpPacket } from './rtcp.ts';

export interface ReceiverOptions {
  clockRate: number;
  /** true for UDP: hold out-of-order packets; false for TCP: deliver at once. */
  reorder: boolean;
  /** Reorder buffer size in packets (default 64). The buffer never holds more than this. */
  reorderWindow?: number;
  /** How long a packet may wait in the reorder buffer for a missing predecessor (default 50 ms). */
  reorderTimeoutMs?: number;
  now?: () => number;
  /** SSRC from the Transport header: accepted without probation. Others need 2 sequential packets,
   *  because some cameras advertise a wrong or zero ssrc= (QUIRKS Q28). */
  expectedSsrc?: number;
  /** If set, packets with another payload type are dropped before sequence tracking (Q33 Geovision PT 50). */
  payloadTypes?: number[];
}

export interface ReceivedPacket {
  packet: RtpPacket;
  /** Unwrapped RTP timestamp (survives the 2^32 wrap), re-based across clock jumps (see TIMESTAMP_JUMP_*). */
  extTimestamp: number;
  /** Extended sequence number within the current source (restarts after a resync). */
  extSeq: number;
  /** Packets missing just before this one (1 on the first packet after a resync). */
  lostBefore: number;
  /** First packet after an SSRC change or a sequence resync (RFC 3550 A.1). */
  resync?: boolean;
  /** ms, from `now()` when the datagram was pushed. */
  arrival: number;
  /** ms, from the SR NTP↔RTP mapping if one was received, else relative to the first arrival. */
  wallclock: number;
}

export interface ReceiverStats {
  ssrc?: number;
  packetsReceived: number;
  packetsLost: number;
  duplicates: number;
  reordered: number;
  /** Packets dropped because they came too late (their slot was already delivered) or were an unconfirmed jump. */
  outOfWindow: number;
  malformed: number;
  bytesReceived: number;
  /** RTP timestamp units. */
  jitter: number;
  jitterMs: number;
  lossPercent: number;
  extHighestSeq: number;
  lastSrNtpMs?: number;
  /** Sequence resyncs after a jump > MAX_DROPOUT (RFC 3550 A.1). */
  resyncs: number;
  ssrcChanges: number;
  /** Packets dropped because their payload type is not one of `payloadTypes`. */
  foreignPayloadType: number;
  /** Times the sender's RTP clock jumped (or a new source started) and the timeline was re-based. */
  timestampJumps: number;
}

/** RFC 3550 A.1 constants. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const RTP_SEQ_MOD = 65536;
const MIN_SEQUENTIAL = 2;
/** Ring of recently seen extended sequence numbers for duplicate detection (> MAX_MISORDER). */
const DUP_RING = 1024;

interface Arrived {
  packet: RtpPacket;
  arrival: number;
  bytes: number;
}

interface Entry {
  packet: RtpPacket;
  extSeq: number;
  extTimestamp: number;
  arrival: number;
}

interface Source {
  ssrc: number;
  maxSeq: number;
  cycles: number;
  baseExt: number;
  /** Sequence number that would confirm a big jump, or -1. */
  badSeq: number;
  received: number;
  expectedPrior: number;
  receivedPrior: number;
  highestExt: number;
}

const signed32 = (x: number): number => x | 0;

/**
 * A timestamp this far behind the previous packet's is a clock jump, not B-frame reordering (a few
 * frames at most). GStreamer's RTSP server restarts a shared stream's timestamps at its first value
 * when another client's PLAY asks for `Range: npt=0.000-` (seen as -1.5 s on every reader); decoders
 * need no break there.
 */
const TIMESTAMP_JUMP_BACK_S = 1;
/**
 * A timestamp this far ahead of the time that passed between arrivals is a jump forward. Large,
 * because a sender that starts with its GOP cache (another gateway) legitimately sends several
 * seconds of media at once.
 */
const TIMESTAMP_JUMP_FORWARD_S = 10;

export class RtpReceiver {
  private readonly clockRate: number;
  private readonly reorder: boolean;
  private readonly window: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly expectedSsrc?: number;
  private readonly payloadTypes?: Set<number>;

  private src?: Source;
  private nextExt = 0;
  private readonly buffer = new Map<number, Entry>();
  private readonly seen = new Float64Array(DUP_RING).fill(NaN);
  /** Packet that jumped by more than MAX_DROPOUT, kept until the next one confirms or refutes it. */
  private jumped?: Arrived;
  /** Packets from an unknown SSRC, kept until MIN_SEQUENTIAL in a row confirm a source change. */
  private candidate?: { ssrc: number; lastSeq: number; held: Arrived[] };
  private pendingResync = false;

  private lastRawTs?: number;
  private lastExtTs = 0;
  /** Arrival of the packet that set lastRawTs. */
  private lastTsArrival = 0;
  /** The next packet starts a new source (SSRC change or sequence resync): its timestamps are unrelated. */
  private rebaseNext = false;
  private firstArrival?: number;
  private firstExtTs = 0;
  private prevTransit?: number;
  private jitterValue = 0;

  private srNtp?: bigint;
  private srNtpMs?: number;
  private srExtTs = 0;
  private srArrival?: number;

  private lostAccum = 0;
  private counters = {
    packetsReceived: 0,
    duplicates: 0,
    reordered: 0,
    outOfWindow: 0,
    malformed: 0,
    bytesReceived: 0,
    resyncs: 0,
    ssrcChanges: 0,
    foreignPayloadType: 0,
    timestampJumps: 0,
  };

  constructor(opts: ReceiverOptions) {
    this.clockRate = opts.clockRate > 0 ? opts.clockRate : 90000;
    this.reorder = opts.reorder;
    this.window = Math.max(1, Math.floor(opts.reorderWindow ?? 64));
    this.timeoutMs = opts.reorderTimeoutMs ?? 50;
    this.now = opts.now ?? (() => Date.now());
    this.expectedSsrc = opts.expectedSsrc;
    if (opts.payloadTypes) this.payloadTypes = new Set(opts.payloadTypes);
  }

  /** Times the timeline was re-based (stats.timestampJumps, without building the stats). */
  get timestampJumps(): number {
    return this.counters.timestampJumps;
  }

  /** Number of packets currently held in the reorder buffer (never more than reorderWindow). */
  get buffered(): number {
    return this.buffer.size;
  }

  pushRtp(buf: Buffer): ReceivedPacket[] {
    const arrival = this.now();
    const out = this.expire(arrival);
    const r = parseRtpPacket(buf);
    if (!r.ok) {
      this.counters.malformed++;
      return out;
    }
    const packet = r.value;
    if (this.payloadTypes && !this.payloadTypes.has(packet.payloadType)) {
      this.counters.foreignPayloadType++;
      return out;
    }
    this.counters.bytesReceived += buf.length;
    const a: Arrived = { packet, arrival, bytes: buf.length };

    if (this.src === undefined && (this.expectedSsrc === undefined || this.expectedSsrc === packet.ssrc)) {
      // First packet of an RTSP-negotiated stream: accept at once (no A.1 probation), because
      // dropping it would lose the start of the first keyframe.
      this.initSource(packet.ssrc, packet.sequenceNumber);
      this.process(a, out);
      return out;
    }
    if (this.src === undefined || packet.ssrc !== this.src.ssrc) {
      this.offerCandidate(a, out);
      return out;
    }
    this.process(a, out);
    return out;
  }

  flush(force = false): ReceivedPacket[] {
    if (force) {
      const out: ReceivedPacket[] = [];
      this.drainAll(out);
      return out;
    }
    return this.expire(this.now());
  }

  handleSenderReport(sr: Extract<RtcpPacket, { type: 'SR' }>, arrivalMs?: number): void {
    this.srNtp = sr.ntpTime;
    this.srNtpMs = sr.ntpMs;
    this.srArrival = arrivalMs ?? this.now();
    // Put the SR's RTP time in the same unwrapped domain as our packets.
    this.srExtTs = this.lastRawTs !== undefined ? this.lastExtTs + signed32(sr.rtpTime - this.lastRawTs) : sr.rtpTime;
  }

  wallclock(extTimestamp: number): number {
    if (this.srNtpMs !== undefined) return this.srNtpMs + ((extTimestamp - this.srExtTs) * 1000) / this.clockRate;
    if (this.firstArrival !== undefined) return this.firstArrival + ((extTimestamp - this.firstExtTs) * 1000) / this.clockRate;
    return this.now();
  }

  reportBlock(): ReportBlock | undefined {
    const s = this.src;
    if (!s) return undefined;
    const extMax = s.cycles + s.maxSeq;
    const expected = extMax - s.baseExt + 1;
    const lost = expected - s.received;
    const expectedInterval = expected - s.expectedPrior;
    s.expectedPrior = expected;
    const receivedInterval = s.received - s.receivedPrior;
    s.receivedPrior = s.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    let lsr = 0;
    let dlsr = 0;
    if (this.srNtp !== undefined && this.srArrival !== undefined) {
      lsr = Number((this.srNtp >> 16n) & 0xffffffffn);
      dlsr = Math.max(0, Math.floor(((this.now() - this.srArrival) / 1000) * 65536));
    }
    return {
      ssrc: s.ssrc,
      fractionLost,
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, lost)),
      highestSeq: extMax >>> 0,
      jitter: Math.floor(this.jitterValue),
      lsr,
      dlsr,
    };
  }

  get stats(): ReceiverStats {
    const c = this.counters;
    const s = this.src;
    const currentLost = s ? s.cycles + s.maxSeq - s.baseExt + 1 - s.received : 0;
    const packetsLost = this.lostAccum + currentLost;
    const total = c.packetsReceived + packetsLost;
    const st: ReceiverStats = {
      packetsReceived: c.packetsReceived,
      packetsLost,
      duplicates: c.duplicates,
      reordered: c.reordered,
      outOfWindow: c.outOfWindow,
      malformed: c.malformed,
      bytesReceived: c.bytesReceived,
      jitter: this.jitterValue,
      jitterMs: (this.jitterValue * 1000) / this.clockRate,
      lossPercent: total > 0 && packetsLost > 0 ? (packetsLost * 100) / total : 0,
      extHighestSeq: s ? s.cycles + s.maxSeq : 0,
      resyncs: c.resyncs,
      ssrcChanges: c.ssrcChanges,
      foreignPayloadType: c.foreignPayloadType,
      timestampJumps: c.timestampJumps,
    };
    if (s) st.ssrc = s.ssrc;
    if (this.srNtpMs !== undefined) st.lastSrNtpMs = this.srNtpMs;
    return st;
  }

  // ---- internals ----

  private initSource(ssrc: number, seq: number): void {
    if (this.src) {
      // Keep the loss of the previous source in the cumulative figures.
      this.lostAccum += this.src.cycles + this.src.maxSeq - this.src.baseExt + 1 - this.src.received;
      this.pendingResync = true;
      this.rebaseNext = true;
    }
    this.src = {
      ssrc,
      maxSeq: seq,
      cycles: 0,
      baseExt: seq,
      badSeq: -1,
      received: 0,
      expectedPrior: 0,
      receivedPrior: 0,
      highestExt: seq - 1,
    };
    this.nextExt = seq;
    this.seen.fill(NaN);
    this.jumped = undefined;
    this.prevTransit = undefined;
  }

  /** A packet from an SSRC other than the current one: switch only after MIN_SEQUENTIAL in a row. */
  private offerCandidate(a: Arrived, out: ReceivedPacket[]): void {
    const c = this.candidate;
    const { ssrc, sequenceNumber: seq } = a.packet;
    if (c && c.ssrc === ssrc && seq === ((c.lastSeq + 1) & 0xffff)) {
      c.held.push(a);
      c.lastSeq = seq;
    } else {
      if (c) this.counters.outOfWindow += c.held.length;
      this.candidate = { ssrc, lastSeq: seq, held: [a] };
    }
    const cand = this.candidate!;
    if (cand.held.length < MIN_SEQUENTIAL) return;
    this.candidate = undefined;
    this.drainAll(out);
    if (this.src) this.counters.ssrcChanges++;
    this.initSource(ssrc, cand.held[0].packet.sequenceNumber);
    for (const h of cand.held) this.process(h, out);
  }

  private process(a: Arrived, out: ReceivedPacket[]): void {
    const s = this.src!;
    const pkt = a.packet;
    const seq = pkt.sequenceNumber;
    const udelta = (seq - s.maxSeq) & 0xffff;
    let ext: number;
    if (udelta < MAX_DROPOUT) {
      // in order, with a permissible gap
      if (seq < s.maxSeq) s.cycles += RTP_SEQ_MOD;
      s.maxSeq = seq;
      ext = s.cycles + seq;
      if (this.jumped) {
        // the earlier jump was not confirmed: it was a stray packet
        this.counters.outOfWindow++;
        this.jumped = undefined;
      }
      s.badSeq = -1;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // a very large jump: a restarted source, or a stray packet (RFC 3550 A.1)
      if (this.jumped && seq === s.badSeq) {
        const first = this.jumped;
        this.jumped = undefined;
        this.drainAll(out);
        this.counters.resyncs++;
        this.initSource(s.ssrc, first.packet.sequenceNumber);
        this.process(first, out);
        this.process(a, out);
        return;
      }
      if (this.jumped) this.counters.outOfWindow++;
      this.jumped = a;
      s.badSeq = (seq + 1) & 0xffff;
      return;
    } else {
      // older than the highest seen: a duplicate or a late (reordered) packet
      ext = seq > s.maxSeq ? s.cycles - RTP_SEQ_MOD + seq : s.cycles + seq;
    }

    const slot = ((ext % DUP_RING) + DUP_RING) % DUP_RING;
    if (this.seen[slot] === ext) {
      this.counters.duplicates++;
      this.counters.bytesReceived -= a.bytes;
      return;
    }
    this.seen[slot] = ext;
    if (ext >= s.baseExt) s.received++;
    this.counters.packetsReceived++;
    if (ext < s.highestExt) this.counters.reordered++;
    else s.highestExt = ext;

    // Unwrap the 32-bit timestamp relative to the previous packet as a signed delta.
    let extTs: number;
    if (this.lastRawTs === undefined) extTs = pkt.timestamp;
    else {
      const delta = signed32(pkt.timestamp - this.lastRawTs);
      const elapsed = ((a.arrival - this.lastTsArrival) * this.clockRate) / 1000;
      if (this.rebaseNext || delta < -TIMESTAMP_JUMP_BACK_S * this.clockRate || delta - elapsed > TIMESTAMP_JUMP_FORWARD_S * this.clockRate) {
        // Camera clock jump or a restarted source: continue the timeline by the time that passed,
        // so outputs see no break (packets of the same frame share the new base through lastRawTs).
        extTs = this.lastExtTs + Math.max(1, Math.round(elapsed));
        this.counters.timestampJumps++;
      } else extTs = this.lastExtTs + delta;
    }
    this.rebaseNext = false;
    this.lastRawTs = pkt.timestamp;
    this.lastExtTs = extTs;
    this.lastTsArrival = a.arrival;
    if (this.firstArrival === undefined) {
      this.firstArrival = a.arrival;
      this.firstExtTs = extTs;
    }

    // Interarrival jitter, RFC 3550 A.8: J += (|D(i-1,i)| - J) / 16, in RTP units.
    const transit = (a.arrival * this.clockRate) / 1000 - extTs;
    if (this.prevTransit !== undefined) {
      const d = Math.abs(transit - this.prevTransit);
      this.jitterValue += (d - this.jitterValue) / 16;
    }
    this.prevTransit = transit;

    this.deliver({ packet: pkt, extSeq: ext, extTimestamp: extTs, arrival: a.arrival }, out);
  }

  private deliver(e: Entry, out: ReceivedPacket[]): void {
    if (e.extSeq < this.nextExt) {
      // its slot was already passed (delivered or given up): too late to be useful downstream
      this.counters.outOfWindow++;
      return;
    }
    if (!this.reorder || e.extSeq === this.nextExt) {
      this.emit(e, out);
      this.drainConsecutive(out);
      return;
    }
    if (e.extSeq - this.nextExt >= this.window) {
      // too far ahead to wait for the gap: give up on the missing packets
      this.drainAll(out);
      this.emit(e, out);
      return;
    }
    // Every buffered extSeq lies in (nextExt, nextExt + window), so the buffer holds < window packets.
    this.buffer.set(e.extSeq, e);
  }

  private emit(e: Entry, out: ReceivedPacket[]): void {
    let lostBefore = Math.max(0, e.extSeq - this.nextExt);
    const rp: ReceivedPacket = {
      packet: e.packet,
      extTimestamp: e.extTimestamp,
      extSeq: e.extSeq,
      lostBefore,
      arrival: e.arrival,
      wallclock: this.wallclock(e.extTimestamp),
    };
    if (this.pendingResync) {
      // tell depacketizers to drop any partial frame from before the discontinuity
      rp.resync = true;
      rp.lostBefore = lostBefore = Math.max(1, lostBefore);
      this.pendingResync = false;
    }
    this.nextExt = e.extSeq + 1;
    out.push(rp);
  }

  private drainConsecutive(out: ReceivedPacket[]): void {
    for (;;) {
      const e = this.buffer.get(this.nextExt);
      if (!e) return;
      this.buffer.delete(this.nextExt);
      this.emit(e, out);
    }
  }

  private drainAll(out: ReceivedPacket[]): void {
    if (this.buffer.size === 0) return;
    const keys = [...this.buffer.keys()].sort((a, b) => a - b);
    for (const k of keys) this.emit(this.buffer.get(k)!, out);
    this.buffer.clear();
  }

  /** Deliver everything up to the newest buffered packet whose wait for a missing predecessor expired. */
  private expire(now: number): ReceivedPacket[] {
    const out: ReceivedPacket[] = [];
    if (this.buffer.size === 0) return out;
    let limit = -Infinity;
    for (const [k, e] of this.buffer) if (now - e.arrival >= this.timeoutMs && k > limit) limit = k;
    if (limit === -Infinity) return out;
    const keys = [...this.buffer.keys()].filter((k) => k <= limit).sort((a, b) => a - b);
    for (const k of keys) {
      this.emit(this.buffer.get(k)!, out);
      this.buffer.delete(k);
    }
    this.drainConsecutive(out);
    return out;
  }
}
