import { randomInt } from 'node:crypto';
import { RtspClient, type RtspClientOptions, type RtspSessionInfo } from '../rtsp/client.ts';
import { buildReceiverReport } from '../rtp/rtcp.ts';
import type { TrackInfo } from '../stream/types.ts';
import type { Source, SourceEvents, SourceStart, RtpQuality } from './source.ts';
import { RtpTrack, SourceTracks } from './rtp-track.ts';

/** RFC 3550 §6.2: receiver reports about every 5 s (some cameras drop sessions without them, QUIRKS Q20). */
const RR_INTERVAL_MS = 5000;

/** A camera pulled over RTSP: client → RTP receiver → depacketizer → access units. */
export class RtspSource implements Source {
  readonly kind = 'rtsp';
  private client: RtspClient | undefined;
  /** Indexed by the RTSP track index (the client's numbering). */
  private media = new SourceTracks();
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
    // (Reolink, QUIRKS Q05): every packet is held until ready(), when the hub knows the tracks.
    const media = new SourceTracks();
    this.media = media;
    client.on('rtp', (index: number, packet: Buffer) => media.push(index, packet, false));
    client.on('rtcp', (index: number, packet: Buffer) => media.push(index, packet, true));
    const info: RtspSessionInfo = await client.start();
    this.events = events;
    this.info = info;
    const reorder = info.transport !== 'tcp';
    const quirks = [...info.quirks];
    const trackInfos: TrackInfo[] = [];
    for (const t of info.tracks) {
      const track = RtpTrack.create(t.media, trackInfos.length, { reorder, expectedSsrc: t.ssrc });
      if (!track.ok) {
        quirks.push(`track ${t.index} (${t.media.encoding}) ignored: ${track.error}`);
        continue;
      }
      trackInfos.push(track.value.info);
      media.tracks[t.index] = track.value;
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

    if (reorder) media.flushReorderBuffers();
    this.timers.push(setInterval(() => this.sendReceiverReports(), this.rrIntervalMs));
    return { tracks: trackInfos, transport: info.transport, quirks };
  }

  private events: SourceEvents | undefined;

  /** The camera has started its stream: deliver the held packets, then everything as it comes. */
  ready(): void {
    if (this.events) this.media.open(this.events);
  }

  private sendReceiverReports(): void {
    const client = this.client;
    if (!client) return;
    this.media.tracks.forEach((t, rtspIndex) => {
      const block = t?.receiver.reportBlock();
      if (!block) return;
      try {
        client.sendRtcp(rtspIndex, buildReceiverReport(this.ssrc, [block], 'camgate'));
      } catch {
        // A receiver report that can't be sent is not a reason to drop the camera.
      }
    });
  }

  rtpQuality(): RtpQuality {
    return this.media.quality();
  }

  /** The RTSP track index behind each camgate track id. */
  rtspIndexOf(trackId: number): number | undefined {
    const i = this.media.tracks.findIndex((t) => t?.info.id === trackId);
    return i < 0 ? undefined : i;
  }

  depacketizerStats(): { track: number; codec: string; framesOut: number; framesDropped: number; errors: number; lastError?: string }[] {
    return this.media.tracks.filter((t): t is RtpTrack => t !== undefined).map((t) => ({ track: t.info.id, codec: t.info.codec, ...t.depacketizer.stats }));
  }

  private clearTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.media.close();
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
