import { randomInt } from 'node:crypto';
import { RtspClient, type RtspClientOptions, type RtspSessionInfo } from '../rtsp/client.ts';
import { RtpReceiver } from '../rtp/receiver.ts';
import { parseRtcp, buildReceiverReport } from '../rtp/rtcp.ts';
import { createDepacketizer, codecOf } from '../codecs/index.ts';
import type { Depacketizer, CodecParams } from '../codecs/types.ts';
import type { TrackInfo } from '../stream/types.ts';
import type { Source, SourceEvents, SourceStart, RtpQuality } from './source.ts';

/** RFC 3550 §6.2: receiver reports about every 5 s (some cameras drop sessions without them, QUIRKS Q20). */
const RR_INTERVAL_MS = 5000;
/** How often the UDP reorder buffers are flushed of packets whose wait expired. */
const REORDER_FLUSH_MS = 20;
/** Packets held while start() is still running (bounded). */
const MAX_EARLY_PACKETS = 2048;

interface IngestTrack {
  /** Index of the RTSP track (the client's numbering). */
  rtspIndex: number;
  info: TrackInfo;
  receiver: RtpReceiver;
  depacketizer: Depacketizer;
  lastParamsKey: string;
  lastParamsVersion: number | undefined;
}

function paramsKey(p: CodecParams): string {
  return `${p.codecString}|${p.width}x${p.height}|${p.fps}|${p.sampleRate}|${p.channels}|${p.sps?.toString('hex')}|${p.pps?.toString('hex')}|${p.vps?.toString('hex')}|${p.audioSpecificConfig?.toString('hex')}`;
}

/** A camera pulled over RTSP: client → RTP receiver → depacketizer → access units. */
export class RtspSource implements Source {
  readonly kind = 'rtsp';
  private client: RtspClient | undefined;
  private tracks: IngestTrack[] = [];
  private timers: NodeJS.Timeout[] = [];
  private readonly ssrc = randomInt(1, 0xffffffff);
  private stopped = false;
  info: RtspSessionInfo | undefined;

  private readonly rrIntervalMs: number;

  constructor(
    private readonly opts: RtspClientOptions,
    tuning: { rrIntervalMs?: number } = {},
  ) {
    this.rrIntervalMs = tuning.rrIntervalMs ?? RR_INTERVAL_MS;
  }

  async start(events: SourceEvents): Promise<SourceStart> {
    this.stopped = false;
    const client = new RtspClient(this.opts);
    this.client = client;
    // Cameras send RTCP and even the first RTP (the keyframe) before or with the PLAY response
    // (Reolink, QUIRKS Q05): hold every packet until ready(), when the hub knows the tracks.
    this.live = false;
    this.early = [];
    client.on('rtp', (index: number, packet: Buffer) => this.onPacket(false, index, packet));
    client.on('rtcp', (index: number, packet: Buffer) => this.onPacket(true, index, packet));
    let info: RtspSessionInfo;
    info = await client.start();
    this.events = events;
    this.info = info;
    const reorder = info.transport !== 'tcp';
    const quirks = [...info.quirks];
    const trackInfos: TrackInfo[] = [];
    for (const t of info.tracks) {
      const codec = codecOf(t.media);
      const dep = createDepacketizer(t.media);
      if (!codec || !dep.ok) {
        quirks.push(`track ${t.index} (${t.media.encoding}) ignored: ${dep.ok ? 'unsupported codec' : dep.error}`);
        continue;
      }
      const info: TrackInfo = {
        id: trackInfos.length,
        kind: t.media.kind === 'video' ? 'video' : 'audio',
        codec,
        clockRate: dep.value.clockRate,
        params: { ...dep.value.params() },
      };
      trackInfos.push(info);
      this.tracks[t.index] = {
        rtspIndex: t.index,
        info,
        receiver: new RtpReceiver({ clockRate: dep.value.clockRate, reorder, expectedSsrc: t.ssrc }),
        depacketizer: dep.value,
        lastParamsKey: paramsKey(dep.value.params()),
        lastParamsVersion: dep.value.paramsVersion,
      };
    }
    if (trackInfos.length === 0) {
      await client.stop();
      throw new Error('the camera offers no track camgate can read');
    }

    client.on('quirk', (name: string) => events.quirk(name));
    client.once('close', (e?: Error) => {
      if (this.stopped) return;
      this.clearTimers();
      events.close(e ?? new Error('RTSP session closed'));
    });

    if (reorder) {
      this.timers.push(
        setInterval(() => {
          if (!this.live) return;
      for (const t of this.tracks) if (t) for (const p of t.receiver.flush()) this.deliver(t, p, events);
        }, REORDER_FLUSH_MS),
      );
    }
    this.timers.push(setInterval(() => this.sendReceiverReports(), this.rrIntervalMs));
    return { tracks: trackInfos, transport: info.transport, quirks };
  }

  private live = false;
  private early: { rtcp: boolean; index: number; packet: Buffer }[] = [];
  private events: SourceEvents | undefined;

  /** The camera has started its stream: deliver the held packets, then everything as it comes. */
  ready(): void {
    this.live = true;
    const held = this.early;
    this.early = [];
    for (const e of held) this.onPacket(e.rtcp, e.index, e.packet);
  }

  private onPacket(rtcp: boolean, index: number, packet: Buffer): void {
    if (!this.live) {
      if (this.early.length < MAX_EARLY_PACKETS) this.early.push({ rtcp, index, packet });
      return;
    }
    const t = this.tracks[index];
    const events = this.events;
    if (!t || !events) return;
    if (rtcp) {
      for (const p of parseRtcp(packet).packets) if (p.type === 'SR') t.receiver.handleSenderReport(p);
      return;
    }
    for (const p of t.receiver.pushRtp(packet)) this.deliver(t, p, events);
  }

  private deliver(t: IngestTrack, p: ReturnType<RtpReceiver['pushRtp']>[number], events: SourceEvents): void {
    const frames = t.depacketizer.push(
      {
        payloadType: p.packet.payloadType,
        sequenceNumber: p.packet.sequenceNumber,
        timestamp: p.extTimestamp,
        marker: p.packet.marker,
        payload: p.packet.payload,
      },
      p.lostBefore > 0,
    );
    if (frames.length === 0) return;
    if (this.paramsChanged(t)) {
      // In-band parameter sets differ from the SDP (or changed mid-stream, QUIRKS Q35/Q37).
      t.info.params = { ...t.depacketizer.params() };
      events.trackParams(t.info.id, t.info.params);
    }
    for (const f of frames) {
      events.accessUnit({
        track: t.info.id,
        codec: t.info.codec,
        pts: f.timestamp,
        dts: f.timestamp,
        clockRate: t.info.clockRate,
        wallclock: t.receiver.wallclock(f.timestamp),
        keyframe: f.keyframe,
        data: f.data,
        epoch: 0,
      });
    }
  }

  private paramsChanged(t: IngestTrack): boolean {
    const version = t.depacketizer.paramsVersion;
    if (version !== undefined) {
      if (version === t.lastParamsVersion) return false;
      t.lastParamsVersion = version;
    }
    const key = paramsKey(t.depacketizer.params());
    if (key === t.lastParamsKey) return false;
    t.lastParamsKey = key;
    return true;
  }

  private sendReceiverReports(): void {
    const client = this.client;
    if (!client) return;
    for (const t of this.tracks) {
      if (!t) continue;
      const block = t.receiver.reportBlock();
      if (!block) continue;
      try {
        client.sendRtcp(t.rtspIndex, buildReceiverReport(this.ssrc, [block], 'camgate'));
      } catch {
        // A receiver report that can't be sent is not a reason to drop the camera.
      }
    }
  }

  rtpQuality(): RtpQuality {
    let packetsReceived = 0;
    let packetsLost = 0;
    let jitterMs = 0;
    for (const t of this.tracks) {
      if (!t) continue;
      const s = t.receiver.stats;
      packetsReceived += s.packetsReceived;
      packetsLost += Math.max(0, s.packetsLost);
      jitterMs = Math.max(jitterMs, s.jitterMs);
    }
    return { packetsReceived, packetsLost, jitterMs };
  }

  /** The RTSP track index behind each camgate track id. */
  rtspIndexOf(trackId: number): number | undefined {
    return this.tracks.find((t) => t && t.info.id === trackId)?.rtspIndex;
  }

  depacketizerStats(): { track: number; codec: string; framesOut: number; framesDropped: number; errors: number; lastError?: string }[] {
    return this.tracks.filter(Boolean).map((t) => ({ track: t.info.id, codec: t.info.codec, ...t.depacketizer.stats }));
  }

  private clearTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners('rtp');
      c.removeAllListeners('rtcp');
      await c.stop();
    }
  }
}
