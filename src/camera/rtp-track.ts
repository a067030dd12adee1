import { RtpReceiver, type ReceivedPacket } from '../rtp/receiver.ts';
import { parseRtcp } from '../rtp/rtcp.ts';
import { createDepacketizer, codecOf } from '../codecs/index.ts';
import type { Depacketizer, CodecParams } from '../codecs/types.ts';
import type { SdpMedia } from '../sdp/index.ts';
import type { TrackInfo } from '../stream/types.ts';
import type { RtpQuality, SourceEvents } from './source.ts';
import { DtsEstimator, type DtsHints } from '../codecs/dts.ts';
import { parseH264Sps } from '../codecs/h264/sps.ts';
import { parseH265Sps } from '../codecs/h265/sps.ts';

function paramsKey(p: CodecParams): string {
  return `${p.codecString}|${p.width}x${p.height}|${p.fps}|${p.sampleRate}|${p.channels}|${p.sps?.toString('hex')}|${p.pps?.toString('hex')}|${p.vps?.toString('hex')}|${p.audioSpecificConfig?.toString('hex')}`;
}

/** The SPS's reorder depth and frame duration, for decode times of B-frame streams. */
function dtsHints(codec: string, p: CodecParams, clockRate: number): DtsHints {
  if (!p.sps) return {};
  let sps: { fps?: number; depth?: number } | undefined;
  if (codec === 'H264') {
    const r = parseH264Sps(p.sps);
    if (r.ok) sps = { fps: r.value.fps, depth: r.value.maxNumReorderFrames };
  } else {
    const r = parseH265Sps(p.sps);
    if (r.ok) sps = { fps: r.value.fps, depth: r.value.maxNumReorderPics };
  }
  return { depth: sps?.depth, frameTicks: sps?.fps ? Math.round(clockRate / sps.fps) : undefined };
}

/**
 * One received RTP stream of a source (a pulled camera's track, or a publisher's): RTP receiver →
 * depacketizer → access units, with codec parameter changes reported as they happen.
 */
export class RtpTrack {
  private lastParamsKey: string;
  private lastParamsVersion: number | undefined;
  /** H.264/H.265: decode times for streams with B-frames (RTP carries presentation times only). */
  private readonly dts: DtsEstimator | undefined;
  private jumpsSeen = 0;

  private constructor(
    readonly info: TrackInfo,
    readonly receiver: RtpReceiver,
    readonly depacketizer: Depacketizer,
  ) {
    this.dts = info.codec === 'H264' || info.codec === 'H265' ? new DtsEstimator(dtsHints(info.codec, depacketizer.params(), info.clockRate)) : undefined;
    this.lastParamsKey = paramsKey(depacketizer.params());
    this.lastParamsVersion = depacketizer.paramsVersion;
  }

  /** A track for an SDP media, numbered `id` in the stream; an error when camgate can't read the codec. */
  static create(media: SdpMedia, id: number, opts: { reorder: boolean; expectedSsrc?: number }): { ok: true; value: RtpTrack } | { ok: false; error: string } {
    const codec = codecOf(media);
    const dep = createDepacketizer(media);
    if (!codec || !dep.ok) return { ok: false, error: dep.ok ? 'unsupported codec' : dep.error };
    const info: TrackInfo = {
      id,
      kind: media.kind === 'video' ? 'video' : 'audio',
      codec,
      clockRate: dep.value.clockRate,
      params: { ...dep.value.params() },
    };
    const receiver = new RtpReceiver({ clockRate: dep.value.clockRate, reorder: opts.reorder, expectedSsrc: opts.expectedSsrc });
    return { ok: true, value: new RtpTrack(info, receiver, dep.value) };
  }

  pushRtp(packet: Buffer, events: SourceEvents): void {
    for (const p of this.receiver.pushRtp(packet)) this.deliver(p, events);
    if (this.receiver.timestampJumps !== this.jumpsSeen) {
      this.jumpsSeen = this.receiver.timestampJumps;
      // A camera clock that jumps (GStreamer restarts a shared stream's timestamps when a client joins).
      events.quirk(`RTP timestamps of track ${this.info.id} jumped: timeline re-based`);
    }
  }

  /** Sender reports give the NTP↔RTP pair for the wall clock and the LSR of our receiver reports. */
  pushRtcp(packet: Buffer): void {
    for (const p of parseRtcp(packet).packets) if (p.type === 'SR') this.receiver.handleSenderReport(p);
  }

  /** Deliver packets whose wait in the UDP reorder buffer expired. */
  flush(events: SourceEvents): void {
    for (const p of this.receiver.flush()) this.deliver(p, events);
  }

  private deliver(p: ReceivedPacket, events: SourceEvents): void {
    const frames = this.depacketizer.push(
      { payloadType: p.packet.payloadType, sequenceNumber: p.packet.sequenceNumber, timestamp: p.extTimestamp, marker: p.packet.marker, payload: p.packet.payload },
      p.lostBefore > 0,
    );
    if (frames.length === 0) return;
    if (this.paramsChanged()) {
      // In-band parameter sets differ from the SDP (or changed mid-stream, QUIRKS Q35/Q37).
      this.info.params = { ...this.depacketizer.params() };
      this.dts?.hint(dtsHints(this.info.codec, this.info.params, this.info.clockRate));
      events.trackParams(this.info.id, this.info.params);
    }
    for (const f of frames) {
      events.accessUnit({
        track: this.info.id,
        codec: this.info.codec,
        pts: f.timestamp,
        dts: this.dts ? this.dts.push(f.timestamp, f.keyframe) : f.timestamp,
        clockRate: this.info.clockRate,
        wallclock: this.receiver.wallclock(f.timestamp),
        keyframe: f.keyframe,
        data: f.data,
        epoch: 0,
      });
    }
  }

  private paramsChanged(): boolean {
    const version = this.depacketizer.paramsVersion;
    if (version !== undefined) {
      if (version === this.lastParamsVersion) return false;
      this.lastParamsVersion = version;
    }
    const key = paramsKey(this.depacketizer.params());
    if (key === this.lastParamsKey) return false;
    this.lastParamsKey = key;
    return true;
  }
}

/** RTP receive statistics summed over a source's tracks (jitter: the worst track). */
function rtpQualityOf(tracks: Iterable<RtpTrack | undefined>): RtpQuality {
  let packetsReceived = 0;
  let packetsLost = 0;
  let jitterMs = 0;
  for (const t of tracks) {
    if (!t) continue;
    const s = t.receiver.stats;
    packetsReceived += s.packetsReceived;
    packetsLost += Math.max(0, s.packetsLost);
    jitterMs = Math.max(jitterMs, s.jitterMs);
  }
  return { packetsReceived, packetsLost, jitterMs };
}

/** Packets held before the hub knows a source's tracks (the first keyframe often comes with PLAY). */
const MAX_EARLY_PACKETS = 2048;
/** How often the UDP reorder buffers are flushed of packets whose wait expired. */
const REORDER_FLUSH_MS = 20;

/**
 * A source's tracks by media index (the RTSP track or the publisher's SDP position), with the gate
 * every source needs: packets that arrive before `open()` (Reolink sends RTCP and the first RTP
 * with or before the PLAY response, QUIRKS Q05) are held, at most MAX_EARLY_PACKETS, and delivered
 * in order when the hub is ready.
 */
export class SourceTracks {
  tracks: (RtpTrack | undefined)[] = [];
  private events: SourceEvents | undefined;
  private held: { index: number; packet: Buffer; rtcp: boolean }[] | undefined = [];
  private flushTimer: NodeJS.Timeout | undefined;

  /** Whether packets flow to the hub (after open(), before close()). */
  get live(): boolean {
    return this.held === undefined;
  }

  /** One RTP or RTCP packet of media `index`. */
  push(index: number, packet: Buffer, rtcp: boolean): void {
    if (this.held) {
      if (this.held.length < MAX_EARLY_PACKETS) this.held.push({ index, packet, rtcp });
      return;
    }
    const t = this.tracks[index];
    if (!t || !this.events) return;
    if (rtcp) t.pushRtcp(packet);
    else t.pushRtp(packet, this.events);
  }

  /** The hub knows the tracks: deliver what was held, then everything as it comes. */
  open(events: SourceEvents): void {
    this.events = events;
    const held = this.held ?? [];
    this.held = undefined;
    for (const e of held) this.push(e.index, e.packet, e.rtcp);
  }

  /** UDP: deliver packets whose wait in a reorder buffer expired, every REORDER_FLUSH_MS until close(). */
  flushReorderBuffers(): void {
    if (this.flushTimer) return;
    this.flushTimer = setInterval(() => {
      if (this.held || !this.events) return;
      for (const t of this.tracks) t?.flush(this.events);
    }, REORDER_FLUSH_MS);
    this.flushTimer.unref();
  }

  /** Back to holding, with nothing held and no flush timer (a new session). */
  close(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    this.held = [];
  }

  quality(): RtpQuality {
    return rtpQualityOf(this.tracks);
  }
}
