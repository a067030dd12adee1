/** Codec names as they appear in camera status (`tracks[].codec`). */
export type CodecName = 'H264' | 'H265' | 'MJPEG' | 'AAC' | 'PCMU' | 'PCMA' | 'OPUS' | 'L16';

export type MediaKind = 'video' | 'audio' | 'application';

/** What every depacketizer is built from: the SDP rtpmap/fmtp and, for video, a size attribute. */
export interface DepacketizerInit {
  clockRate: number;
  channels?: number;
  /** fmtp parameters; keys lower-case. */
  fmtp: Record<string, string>;
  /** Size from the SDP (a=x-dimensions, a=framesize), used until the bitstream says otherwise. */
  dimensions?: { width: number; height: number };
}

/** One RTP packet, after reordering, as a depacketizer sees it. */
export interface RtpPacketIn {
  payloadType: number;
  /** 16-bit RTP sequence number. */
  sequenceNumber: number;
  /** Extended (unwrapped) RTP timestamp, in the track's clock units. Never wraps. */
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

/** A complete frame (access unit) rebuilt from RTP. */
export interface Frame {
  /** Extended RTP timestamp of the frame, in track clock units. */
  timestamp: number;
  keyframe: boolean;
  /**
   * H.264/H.265: the NAL units of the access unit, without start codes or length prefixes.
   * Audio: one element, the raw codec frame (AAC raw AU without ADTS, a G.711 or Opus packet).
   * MJPEG: one element, a complete JPEG file (SOI…EOI).
   */
  data: Buffer[];
}

/** What a depacketizer knows about the stream; it may change mid-stream (new SPS, in-band config). */
export interface CodecParams {
  codecString?: string;
  width?: number;
  height?: number;
  fps?: number;
  sampleRate?: number;
  channels?: number;
  profile?: number;
  level?: number;
  /** H.264: SPS/PPS; H.265: VPS/SPS/PPS (NAL units without start codes). */
  vps?: Buffer;
  sps?: Buffer;
  pps?: Buffer;
  /** AAC AudioSpecificConfig. */
  audioSpecificConfig?: Buffer;
}

export interface DepacketizerStats {
  framesOut: number;
  /** Frames discarded because of loss or malformed packets. */
  framesDropped: number;
  /** Malformed packets seen. */
  errors: number;
  lastError?: string;
}

/**
 * A depacketizer: a pure, I/O-free state machine from RTP packets to frames.
 * `push` never throws: a malformed packet drops the current frame, is counted in `stats`,
 * and (for video) the depacketizer resyncs at the next keyframe.
 */
export interface Depacketizer {
  readonly codec: CodecName;
  readonly clockRate: number;
  /** `lostBefore`: one or more packets were lost just before this one. */
  push(pkt: RtpPacketIn, lostBefore: boolean): Frame[];
  params(): CodecParams;
  /**
   * Bumped whenever params() changes (in-band parameter sets, new config). Lets callers skip
   * comparing params() per frame; depacketizers without it are compared by value.
   */
  readonly paramsVersion?: number;
  readonly stats: DepacketizerStats;
}
