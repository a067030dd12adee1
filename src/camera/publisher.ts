/**
 * A camera fed by an encoder that pushes to the RTSP server (ANNOUNCE + SETUP mode=record + RECORD),
 * for cameras configured with `url: publisher`. It is a Source like RtspSource: start() resolves when
 * a publisher starts recording, its RTP goes through the same receiver and depacketizers, and when the
 * publisher leaves the camera retries, i.e. waits for the next one.
 */
import { EventEmitter } from 'node:events';
import type { ReportBlock } from '../rtp/rtcp.ts';
import { createDepacketizer, codecOf } from '../codecs/index.ts';
import type { SdpMedia } from '../sdp/index.ts';
import type { Stream } from '../stream/stream.ts';
import type { TrackInfo } from '../stream/types.ts';
import type { Source, SourceEvents, SourceStart, RtpQuality } from './source.ts';
import { RtpTrack, SourceTracks } from './rtp-track.ts';


/** The server side of a publisher connection, as the source sees it. */
export interface PublisherHandle {
  /** End the publisher's session (the camera stopped or restarts). */
  close(reason: string): void;
}

/** The publisher source of each `url: publisher` camera's stream, from start() until stop(). */
const waiting = new Map<Stream, PublisherSource>();
const registry = new EventEmitter();
registry.setMaxListeners(0);

/** The source waiting for a publisher on this stream, waiting up to `waitMs` for one to appear
 *  (between two publishers the camera takes a moment to retry). */
export function waitingPublisher(stream: Stream, waitMs: number): Promise<PublisherSource | undefined> {
  const now = waiting.get(stream);
  if (now || waitMs <= 0) return Promise.resolve(now);
  return new Promise((resolve) => {
    const on = (s: Stream) => {
      if (s !== stream) return;
      clearTimeout(timer);
      registry.off('waiting', on);
      resolve(waiting.get(stream));
    };
    const timer = setTimeout(() => {
      registry.off('waiting', on);
      resolve(waiting.get(stream));
    }, waitMs);
    registry.on('waiting', on);
  });
}

/** Tracks camgate can ingest from a publisher's SDP, and why the others are left out. */
export function publishableTracks(medias: SdpMedia[]): { usable: number[]; skipped: string[] } {
  const usable: number[] = [];
  const skipped: string[] = [];
  medias.forEach((m, i) => {
    const dep = createDepacketizer(m);
    if (codecOf(m) && dep.ok && (m.kind === 'video' || m.kind === 'audio')) usable.push(i);
    else skipped.push(`${m.encoding}/${m.clockRate}`);
  });
  return { usable, skipped };
}

export class PublisherSource implements Source {
  readonly kind = 'publisher';
  private events: SourceEvents | undefined;
  private resolveStart: ((s: SourceStart) => void) | undefined;
  private owner: PublisherHandle | undefined;
  /** Indexed by the media's position in the publisher's SDP. */
  private readonly media = new SourceTracks();
  private stopped = false;

  constructor(readonly stream: Stream) {}

  start(events: SourceEvents): Promise<SourceStart> {
    this.events = events;
    this.stopped = false;
    return new Promise<SourceStart>((resolve) => {
      this.resolveStart = resolve;
      waiting.set(this.stream, this);
      registry.emit('waiting', this.stream);
    });
  }

  /** A publisher is announcing or recording. */
  get busy(): boolean {
    return this.owner !== undefined;
  }

  /** Reserve this camera for one publisher (at ANNOUNCE); false when another one has it. */
  claim(owner: PublisherHandle): boolean {
    if (this.stopped || (this.owner && this.owner !== owner)) return false;
    this.owner = owner;
    return true;
  }

  /** The publisher left before RECORD: the camera waits for the next one. */
  unclaim(owner: PublisherHandle): void {
    if (this.owner === owner && !this.media.live && this.resolveStart) this.owner = undefined;
  }

  /** RECORD: the hub gets these tracks and media starts to flow. */
  record(owner: PublisherHandle, medias: SdpMedia[], indices: number[], transport: 'tcp' | 'udp'): boolean {
    if (this.owner !== owner || !this.resolveStart) return false;
    const infos: TrackInfo[] = [];
    this.media.tracks = [];
    for (const i of indices) {
      const m = medias[i];
      if (!m) continue;
      const track = RtpTrack.create(m, infos.length, { reorder: transport === 'udp' });
      if (!track.ok) continue;
      infos.push(track.value.info);
      this.media.tracks[i] = track.value;
    }
    if (infos.length === 0) return false;
    const resolve = this.resolveStart;
    this.resolveStart = undefined;
    if (transport === 'udp') this.media.flushReorderBuffers();
    resolve({ tracks: infos, transport: `publisher/${transport}`, quirks: [] });
    return true;
  }

  /** One RTP or RTCP packet of the publisher's media `index` (its position in the ANNOUNCE SDP). */
  push(owner: PublisherHandle, index: number, packet: Buffer, rtcp: boolean): void {
    if (this.owner === owner) this.media.push(index, packet, rtcp);
  }

  /** The publisher's session ended (TEARDOWN, disconnect, timeout). */
  end(owner: PublisherHandle, reason: string): void {
    if (this.owner !== owner) return;
    this.owner = undefined;
    if (this.resolveStart) return; // never recorded: keep waiting
    this.media.close();
    if (!this.stopped) this.events?.close(new Error(`publisher left: ${reason}`));
  }

  ready(): void {
    if (this.events) this.media.open(this.events);
  }

  /**
   * RTCP receiver report blocks for the publisher (RFC 3550 §6.4.2), one per media it records, by
   * index in its ANNOUNCE SDP: loss, jitter and LSR/DLSR from its own sender reports.
   */
  reportBlocks(owner: PublisherHandle): { index: number; block: ReportBlock }[] {
    if (this.owner !== owner || !this.media.live) return [];
    const out: { index: number; block: ReportBlock }[] = [];
    for (const [mediaIndex, t] of this.media.tracks.entries()) {
      const block = t?.receiver.reportBlock();
      if (t && block) out.push({ index: mediaIndex, block });
    }
    return out;
  }

  rtpQuality(): RtpQuality {
    return this.media.quality();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (waiting.get(this.stream) === this) waiting.delete(this.stream);
    this.resolveStart = undefined;
    this.media.close();
    const owner = this.owner;
    this.owner = undefined;
    owner?.close('camera stopped');
  }
}
