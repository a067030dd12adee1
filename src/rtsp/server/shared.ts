/**
 * One RTP numbering per stream, shared by every unicast reader (TCP interleaved and UDP).
 *
 * With per-reader SSRCs and sequence numbers every reader needed its own copy of every frame: 200
 * readers meant 200 allocations and copies of each access unit per frame, which cost more than the
 * socket writes themselves and fed the garbage collector. Here SSRC, sequence numbers and RTP
 * timestamps are assigned once per access unit, in publish order, so a frame's bytes are the same for
 * every reader: the RTP headers are written once, and the `$`-framed TCP form once per interleaved
 * channel, then handed unchanged to every socket. (MediaMTX and multicast work the same way.)
 *
 * A reader that is dropped back to a keyframe sees a sequence-number gap exactly as large as what it
 * missed, so its receiver reports count real loss; readers that kept up see no gap.
 *
 * Publish order: a numbering consumer subscribes (from the GOP cache) before any reader's consumer,
 * numbers each unit as it is published, and is drained synchronously when a reader needs a frame it
 * has not reached yet (the GOP cache at PLAY), so units are numbered in the order the stream
 * published them, whichever reader asks first.
 */
import { randomInt } from 'node:crypto';
import type { Stream } from '../../stream/stream.ts';
import type { Consumer } from '../../stream/consumer.ts';
import type { AccessUnit, TrackInfo } from '../../stream/types.ts';
import { payloadSize } from '../../codecs/payload.ts';
import { payloadsOf, canServe, describeTrack } from './media.ts';

const TWO32 = 4294967296;
export const mod32 = (x: number): number => ((Math.round(x) % TWO32) + TWO32) % TWO32;

export function writeRtpHeader(b: Buffer, o: number, pt: number, marker: boolean, seq: number, ts: number, ssrc: number): void {
  b[o] = 0x80;
  b[o + 1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  b.writeUInt16BE(seq & 0xffff, o + 2);
  b.writeUInt32BE(ts >>> 0, o + 4);
  b.writeUInt32BE(ssrc >>> 0, o + 8);
}

/** The RTP state of one track of a stream, common to all its unicast readers. */
export interface SharedTrack {
  trackId: number;
  codec: TrackInfo['codec'];
  clockRate: number;
  channels: number;
  payloadType: number;
  ssrc: number;
  /** Next sequence number (16-bit). */
  seq: number;
  /** RTP time (32-bit) at the reference wall-clock instant (RTP-Info rtptime). */
  rtpStart: number;
  /** Unwrapped RTP time = pts + offset, per source epoch. */
  offset?: number;
  epoch?: number;
  lastRtp?: number;
  lastWall?: number;
}

/**
 * One access unit as RTP: the same bytes for every reader.
 *
 * The packets live in one buffer, each behind its 4-byte `$ channel length` prefix (RFC 2326 §10.12),
 * so a TCP reader writes the buffer as is and a UDP reader sends the slices after the prefixes. One
 * buffer and a few numbers per unit, instead of a header, a payload descriptor and payload views per
 * packet: the GOP cache keeps ~50 frames alive, and every object in them was copied by each young-
 * generation GC (1.5-5 ms pauses with per-packet objects, which set the restream's p99 latency).
 */
export interface RtpFrame {
  track: SharedTrack;
  /** Sequence number of the first packet. */
  seq: number;
  /** Unwrapped RTP time of the access unit. */
  rtp: number;
  wallclock: number;
  /** Number of RTP packets. */
  count: number;
  /** Payload octets (RTCP SR octet count). */
  octets: number;
  /** Every packet as `$ channel length header payload`, with the channel the frame was built for. */
  data: Buffer;
  /** The same packets framed for another interleaved channel (built once per channel). */
  interleaved(channel: number): Buffer;
}

/** Calls `fn(offset, length)` for each RTP packet in a `$`-framed buffer (offset of its RTP header). */
export function forEachFramed(data: Buffer, fn: (offset: number, length: number) => void): void {
  for (let o = 0; o + 4 <= data.length; ) {
    const len = data.readUInt16BE(o + 2);
    fn(o + 4, len);
    o += 4 + len;
  }
}

/** Frames per access unit; a frame lives as long as its access unit (the GOP cache holds them). */
type FrameSlot = RtpFrame | null;

export class StreamRtp {
  readonly tracks = new Map<number, SharedTrack>();
  private readonly frames = new WeakMap<AccessUnit, FrameSlot>();
  /** The wall-clock instant every track's RTP time is aligned on (the first numbered unit's). */
  private refWall: number | undefined;
  private numbering: Consumer | undefined;
  private users = 0;

  constructor(readonly stream: Stream) {}

  /** The shared state of a track, created (or renewed when the codec or payload type changed) at SETUP. */
  track(info: TrackInfo, payloadType: number): SharedTrack {
    const cur = this.tracks.get(info.id);
    if (cur && cur.codec === info.codec && cur.payloadType === payloadType && cur.clockRate === info.clockRate) return cur;
    const t: SharedTrack = {
      trackId: info.id,
      codec: info.codec,
      clockRate: info.clockRate,
      channels: info.params.channels ?? 1,
      payloadType,
      ssrc: randomInt(1, 0xffffffff),
      seq: randomInt(0, 0x10000),
      rtpStart: randomInt(0, 0xffffffff),
    };
    this.tracks.set(info.id, t);
    return t;
  }

  /** A reader starts playing: number from the GOP cache on. Returns the release function. */
  acquire(): () => void {
    if (this.users++ === 0) {
      const c = this.stream.subscribe({ label: 'rtsp-numbering', fromGop: true, maxUnits: 1024, maxBytes: 8 * 1024 * 1024 });
      this.numbering = c;
      // Number each unit as it is published, whether or not a reader is ready for it, so this queue
      // never holds more than the unit being published (stalled readers don't make it grow).
      // It waits only on an empty queue: a unit taken by next() would be out of the queue but not yet
      // numbered for a microtask, and frame() must never overtake it.
      void (async () => {
        for (;;) {
          for (let au = c.tryNext(); au; au = c.tryNext()) this.numberOnce(au);
          const au = await c.next();
          if (!au) return;
          this.numberOnce(au);
        }
      })();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.users === 0) {
        this.numbering?.close();
        this.numbering = undefined;
      }
    };
  }

  /** The frame of an access unit (numbered on first use, after every unit published before it). */
  frame(au: AccessUnit): RtpFrame | undefined {
    const have = this.frames.get(au);
    if (have !== undefined) return have ?? undefined;
    const c = this.numbering;
    if (c) {
      for (let next = c.tryNext(); next; next = c.tryNext()) {
        this.numberOnce(next);
        if (next === au) break;
      }
    }
    // Not in the numbering queue (it overflowed, or it is being handed over right now): number it now.
    this.numberOnce(au);
    return this.frames.get(au) ?? undefined;
  }

  private numberOnce(au: AccessUnit): void {
    if (!this.frames.has(au)) this.frames.set(au, this.number(au));
  }

  /** RTP time of `track` at a wall-clock instant (RTP-Info for a track whose first unit comes later). */
  rtpAt(t: SharedTrack, wall: number): number {
    if (t.lastRtp !== undefined && t.lastWall !== undefined) return t.lastRtp + ((wall - t.lastWall) * t.clockRate) / 1000;
    return t.rtpStart + (((wall - (this.refWall ?? wall)) * t.clockRate) / 1000);
  }

  private number(au: AccessUnit): FrameSlot {
    let t = this.tracks.get(au.track);
    if (!t || t.codec !== au.codec) {
      // Every servable track is numbered, set up or not, so a reader that sets up audio later still
      // gets its units in order. The payload type is the one DESCRIBE announces.
      const info = this.stream.tracks[au.track];
      const m = info && info.codec === au.codec && canServe(info) ? describeTrack(info) : undefined;
      if (!info || !m) return null;
      t = this.track(info, m.payloadType);
    }
    const payloads = payloadsOf(au, t.channels);
    if (payloads.length === 0) return null;
    this.refWall ??= au.wallclock;
    if (t.offset === undefined || t.epoch !== au.epoch) {
      if (t.lastRtp === undefined || t.lastWall === undefined) {
        // First unit of the track: on the same wall-clock line as every other track.
        t.offset = t.rtpStart + ((au.wallclock - this.refWall) * t.clockRate) / 1000 - au.pts;
      } else {
        // Source reconnect (new epoch): continue from the last timestamp by the wall-clock time that
        // passed, so readers never see RTP time jump.
        t.offset = t.lastRtp + Math.max(1, ((au.wallclock - t.lastWall) * t.clockRate) / 1000) - au.pts;
      }
      t.epoch = au.epoch;
    }
    const rtp = Math.round(au.pts + t.offset);
    // Decoding order is publish order; a unit older than the last (B-frames are not reordered here)
    // still keeps its own timestamp.
    t.lastRtp = rtp;
    t.lastWall = au.wallclock;
    const ts = mod32(rtp);
    const seq = t.seq;
    let total = 0;
    for (const p of payloads) total += 16 + payloadSize(p);
    const data = Buffer.allocUnsafe(total);
    let o = 0;
    let octets = 0;
    for (const p of payloads) {
      const size = payloadSize(p);
      data[o] = 0x24;
      data[o + 1] = 0;
      data.writeUInt16BE(12 + size, o + 2);
      writeRtpHeader(data, o + 4, t.payloadType, p.marker, t.seq, ts + (p.tsDelta ?? 0), t.ssrc);
      t.seq = (t.seq + 1) & 0xffff;
      o += 16;
      for (const b of p.parts) {
        data.set(b, o);
        o += b.length;
      }
      octets += size;
    }
    let byChannel: Map<number, Buffer> | undefined;
    return {
      track: t,
      seq,
      rtp,
      wallclock: au.wallclock,
      count: payloads.length,
      octets,
      data,
      interleaved(channel: number): Buffer {
        if (channel === 0) return data;
        byChannel ??= new Map();
        let b = byChannel.get(channel);
        if (!b) {
          b = Buffer.from(data);
          forEachFramed(b, (off) => (b![off - 3] = channel));
          byChannel.set(channel, b);
        }
        return b;
      },
    };
  }
}
