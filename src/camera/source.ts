import type { AccessUnit, TrackInfo } from '../stream/types.ts';
import type { CodecParams } from '../codecs/types.ts';

/** RTP-level receive statistics of a source, summed over its tracks. */
export interface RtpQuality {
  packetsReceived: number;
  packetsLost: number;
  /** Largest interarrival jitter over the tracks, in ms. */
  jitterMs: number;
}

/** What a source reports to its camera. */
export interface SourceEvents {
  /** A complete access unit (the camera stamps the epoch). */
  accessUnit(au: AccessUnit): void;
  /** Codec parameters of a track changed mid-stream (new SPS, in-band AAC config…). */
  trackParams(track: number, params: CodecParams): void;
  /** The source died after start() resolved. */
  close(err?: Error): void;
  /** A camera workaround applied after start (for the status and `camgate probe`). */
  quirk(name: string): void;
}

export interface SourceStart {
  tracks: TrackInfo[];
  /** What was negotiated: tcp | udp | multicast | builtin | publisher. */
  transport: string;
  quirks: string[];
}

/** Something that feeds a stream: an RTSP camera, the demo clip, later a publisher. */
export interface Source {
  readonly kind: string;
  start(events: SourceEvents): Promise<SourceStart>;
  /**
   * Called once the stream knows the tracks from start(): media flows from here on. Sources hold
   * what arrives earlier (a camera's first keyframe often comes with the PLAY response).
   */
  ready(): void;
  stop(): Promise<void>;
  rtpQuality?(): RtpQuality;
}
