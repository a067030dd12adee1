export { H264Depacketizer, H264Nal, isH264Keyframe, decodeSpropNalus } from './depacketizer.ts';
export { H264Packetizer, rtpPacket } from './packetizer.ts';
export type { PacketizerOptions } from './packetizer.ts';
export { parseH264Sps, h264CodecString } from './sps.ts';
export type { H264Sps } from './sps.ts';
export { MAX_AU_BYTES, NalDepacketizer } from './access-unit.ts';
export type { DepacketizerInit } from './access-unit.ts';
