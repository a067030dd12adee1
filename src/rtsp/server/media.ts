/**
 * From hub tracks to what the restream sends: SDP media descriptions (with the current parameter
 * sets) and RTP payloads per access unit. Payloads are computed once per access unit and shared by
 * every reader of the stream (each reader only writes its own 12-byte RTP header), so 200 readers
 * cost one packetization, not 200.
 */
import type { AccessUnit, TrackInfo } from '../../stream/types.ts';
import type { BuildSdpMedia } from '../../sdp/index.ts';
import type { RtpPayload } from '../../codecs/payload.ts';
import { DEFAULT_RTP_PAYLOAD } from '../../codecs/payload.ts';
import { H264Packetizer } from '../../codecs/h264/packetizer.ts';
import { H265Packetizer } from '../../codecs/h265/packetizer.ts';
import { Mpeg4GenericPacketizer, AAC_HBR_FMTP } from '../../codecs/aac/packetizer.ts';
import { G711Packetizer } from '../../codecs/g711/packetizer.ts';
import { OpusPacketizer } from '../../codecs/opus/packetizer.ts';
import { MjpegPacketizer } from '../../codecs/mjpeg/packetizer.ts';

/** A track as the restream describes it: SDP fields plus attributes buildSdp doesn't write. */
export interface ServedMedia extends BuildSdpMedia {
  trackId: number;
  /** Extra a= lines (without 'a='), e.g. 'framerate:25', 'x-dimensions:1920,1080'. */
  attributes: string[];
}

/** The codecs the restream can send; others (L16) are left out of the SDP. */
export function canServe(t: TrackInfo): boolean {
  return ['H264', 'H265', 'MJPEG', 'AAC', 'PCMU', 'PCMA', 'OPUS'].includes(t.codec);
}

const hex = (b: number | undefined) => (b ?? 0).toString(16).padStart(2, '0');

/** The SDP media of one hub track, with control `trackID=<id>`; undefined when it can't be served. */
export function describeTrack(t: TrackInfo): ServedMedia | undefined {
  const p = t.params;
  const control = `trackID=${t.id}`;
  const dynamicPt = 96 + t.id;
  const attributes: string[] = [];
  const base = { trackId: t.id, control, attributes };
  if (t.kind === 'video') {
    if (p.fps) attributes.push(`framerate:${Math.round(p.fps * 1000) / 1000}`);
    if (p.width && p.height) attributes.push(`x-dimensions:${p.width},${p.height}`);
  }
  switch (t.codec) {
    case 'H264': {
      // RFC 6184 §8.1: profile-level-id is SPS bytes 1..3; sprop-parameter-sets lets a reader decode
      // from the first keyframe even before the in-band SPS/PPS.
      const fmtp: Record<string, string> = { 'packetization-mode': '1' };
      if (p.sps && p.sps.length >= 4) fmtp['profile-level-id'] = `${hex(p.sps[1])}${hex(p.sps[2])}${hex(p.sps[3])}`;
      if (p.sps && p.pps) fmtp['sprop-parameter-sets'] = `${p.sps.toString('base64')},${p.pps.toString('base64')}`;
      return { ...base, kind: 'video', payloadType: dynamicPt, encoding: 'H264', clockRate: 90000, fmtp };
    }
    case 'H265': {
      // RFC 7798 §7.1: sprop-vps/sps/pps.
      const fmtp: Record<string, string> = {};
      if (p.vps) fmtp['sprop-vps'] = p.vps.toString('base64');
      if (p.sps) fmtp['sprop-sps'] = p.sps.toString('base64');
      if (p.pps) fmtp['sprop-pps'] = p.pps.toString('base64');
      return { ...base, kind: 'video', payloadType: dynamicPt, encoding: 'H265', clockRate: 90000, fmtp };
    }
    case 'MJPEG':
      // RFC 3551: JPEG is static payload type 26 at 90 kHz.
      return { ...base, kind: 'video', payloadType: 26, encoding: 'JPEG', clockRate: 90000 };
    case 'AAC': {
      const rate = p.sampleRate ?? t.clockRate;
      const fmtp: Record<string, string> = { ...AAC_HBR_FMTP };
      if (p.audioSpecificConfig) fmtp.config = p.audioSpecificConfig.toString('hex');
      return { ...base, kind: 'audio', payloadType: dynamicPt, encoding: 'MPEG4-GENERIC', clockRate: t.clockRate || rate, channels: p.channels ?? 1, fmtp };
    }
    case 'PCMU':
    case 'PCMA': {
      const channels = p.channels ?? 1;
      // Static payload types 0/8 mean 8 kHz mono (RFC 3551 table 4); anything else needs a dynamic one.
      const pt = t.clockRate === 8000 && channels === 1 ? (t.codec === 'PCMU' ? 0 : 8) : dynamicPt;
      return { ...base, kind: 'audio', payloadType: pt, encoding: t.codec, clockRate: t.clockRate, channels };
    }
    case 'OPUS': {
      const fmtp: Record<string, string> = {};
      if ((p.channels ?? 1) > 1) fmtp['sprop-stereo'] = '1';
      return { ...base, kind: 'audio', payloadType: dynamicPt, encoding: 'opus', clockRate: 48000, channels: 2, fmtp };
    }
    default:
      return undefined;
  }
}

/** Adds the extra a= lines after each media's a=control line (buildSdp writes the standard ones). */
export function addAttributes(sdp: string, medias: ServedMedia[]): string {
  const lines = sdp.split('\r\n');
  const out: string[] = [];
  for (const l of lines) {
    out.push(l);
    if (!l.startsWith('a=control:trackID=')) continue;
    const id = Number(l.slice('a=control:trackID='.length));
    const m = medias.find((x) => x.trackId === id);
    for (const a of m?.attributes ?? []) out.push(`a=${a.replace(/[\r\n]/g, ' ')}`);
  }
  return out.join('\r\n');
}

// One packetizer per codec: their only state is a sequence counter the restream doesn't use.
// The H.26x ones give payloads that point into the access unit's NAL units (zero-copy).
const h264 = new H264Packetizer({ payloadType: 96, ssrc: 0, mtu: DEFAULT_RTP_PAYLOAD });
const h265 = new H265Packetizer({ payloadType: 96, ssrc: 0, mtu: DEFAULT_RTP_PAYLOAD });
const aac = new Mpeg4GenericPacketizer();
const opus = new OpusPacketizer();
const mjpeg = new MjpegPacketizer();
const g711 = [new G711Packetizer({ channels: 1 }), new G711Packetizer({ channels: 2 })];

/** Payloads per access unit, shared by every reader (access units are immutable once published). */
const cache = new WeakMap<AccessUnit, RtpPayload[]>();

export function payloadsOf(au: AccessUnit, channels = 1): RtpPayload[] {
  let p = cache.get(au);
  if (p) return p;
  switch (au.codec) {
    case 'H264':
      p = h264.payloads(au.data);
      break;
    case 'H265':
      p = h265.payloads(au.data);
      break;
    case 'MJPEG':
      p = mjpeg.packetize(au.data);
      break;
    case 'AAC':
      p = aac.packetize(au.data);
      break;
    case 'PCMU':
    case 'PCMA':
      p = (channels === 2 ? g711[1]! : g711[0]!).packetize(au.data);
      break;
    case 'OPUS':
      p = opus.packetize(au.data);
      break;
    default:
      p = [];
  }
  cache.set(au, p);
  return p;
}

/** MJPEG frames the restream could not packetize (for logs and tests). */
export function mjpegDrops(): { dropped: number; lastError?: string } {
  return { dropped: mjpeg.dropped, ...(mjpeg.lastError ? { lastError: mjpeg.lastError } : {}) };
}
