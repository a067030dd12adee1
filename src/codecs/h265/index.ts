export { H265Depacketizer, H265Nal, isH265Keyframe } from './depacketizer.ts';
export { H265Packetizer } from './packetizer.ts';
export { parseH265Sps, h265CodecString } from './sps.ts';
export type { H265Sps } from './sps.ts';
