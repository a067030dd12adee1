import type { CodecName, CodecParams, MediaKind } from '../codecs/types.ts';

/** A track of a stream, as the outputs see it. */
export interface TrackInfo {
  /** Index of the track in its stream. */
  id: number;
  kind: MediaKind;
  codec: CodecName;
  /** RTP clock rate: pts/dts of this track's access units are in these units. */
  clockRate: number;
  /** Codec parameters known so far (resolution, parameter sets, AudioSpecificConfig…). */
  params: CodecParams;
}

/** One access unit, the unit every output consumes from the hub. */
export interface AccessUnit {
  track: number;
  codec: CodecName;
  /** Presentation time in `clockRate` units (extended RTP timestamp). */
  pts: number;
  /** Decoding time in `clockRate` units; equal to pts for streams without B-frames. */
  dts: number;
  clockRate: number;
  /** Wall-clock capture time in ms since the epoch (from RTCP SR NTP↔RTP pairs, else arrival time). */
  wallclock: number;
  keyframe: boolean;
  /** See Frame.data: NAL units for H.264/H.265, one frame for audio, one JPEG for MJPEG. */
  data: Buffer[];
  /** Bumped each time the source reconnects: outputs insert a discontinuity when it changes. */
  epoch: number;
}
