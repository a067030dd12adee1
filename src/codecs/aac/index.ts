export {
  type AudioSpecificConfig,
  parseAudioSpecificConfig,
  aacCodecString,
  parseAdtsHeader,
  buildAdtsHeader,
  buildAudioSpecificConfig,
  splitAdts,
  AAC_SAMPLE_RATES,
} from './asc.ts';
export { Mpeg4GenericDepacketizer, AAC_MAX_AU_BYTES } from './mpeg4-generic.ts';
export { LatmDepacketizer, parseStreamMuxConfig, type StreamMuxConfig } from './latm.ts';
export { type DepacketizerInit } from './fmtp.ts';
