import type { SdpMedia } from '../sdp/index.ts';
import type { CodecName, Depacketizer } from './types.ts';
import { H264Depacketizer } from './h264/index.ts';
import { H265Depacketizer } from './h265/index.ts';
import { Mpeg4GenericDepacketizer, LatmDepacketizer } from './aac/index.ts';
import { G711Depacketizer } from './g711/index.ts';
import { OpusDepacketizer } from './opus/index.ts';
import { MjpegDepacketizer } from './mjpeg/index.ts';

/** The codec camgate gives a media of an SDP, or undefined when it can't depacketize it. */
export function codecOf(media: Pick<SdpMedia, 'encoding'>): CodecName | undefined {
  switch (media.encoding) {
    case 'H264':
      return 'H264';
    case 'H265':
    case 'HEVC':
      return 'H265';
    case 'JPEG':
      return 'MJPEG';
    case 'MPEG4-GENERIC':
    case 'MP4A-LATM':
      return 'AAC';
    case 'PCMU':
      return 'PCMU';
    case 'PCMA':
      return 'PCMA';
    case 'OPUS':
      return 'OPUS';
    default:
      return undefined;
  }
}

/** A depacketizer for one SDP media, or an error saying why the media can't be used. */
export function createDepacketizer(media: SdpMedia): { ok: true; value: Depacketizer } | { ok: false; error: string } {
  const init = { clockRate: media.clockRate, channels: media.channels, fmtp: media.fmtp, dimensions: media.dimensions };
  switch (media.encoding) {
    case 'H264':
      return { ok: true, value: new H264Depacketizer(init) };
    case 'H265':
    case 'HEVC':
      return { ok: true, value: new H265Depacketizer(init) };
    case 'JPEG':
      return { ok: true, value: new MjpegDepacketizer(init) };
    case 'MPEG4-GENERIC':
      return { ok: true, value: new Mpeg4GenericDepacketizer(init) };
    case 'MP4A-LATM':
      return { ok: true, value: new LatmDepacketizer(init) };
    case 'PCMU':
    case 'PCMA':
      return { ok: true, value: new G711Depacketizer(media.encoding, init) };
    case 'OPUS':
      return { ok: true, value: new OpusDepacketizer(init) };
    default:
      return { ok: false, error: `unsupported codec ${media.encoding}/${media.clockRate}` };
  }
}
