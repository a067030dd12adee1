import type { CodecParams } from '../types.ts';
import { splitAnnexB } from '../annexb.ts';
import { NalDepacketizer } from './access-unit.ts';
import type { DepacketizerInit, NalSyntax } from './access-unit.ts';
import { h264CodecString, parseH264Sps } from './sps.ts';
import type { H264Sps } from './sps.ts';

/** H.264 NAL unit types used here (ITU-T H.264 Table 7-1, RFC 6184 Table 1). */
export const H264Nal = {
  NonIdr: 1, Idr: 5, Sei: 6, Sps: 7, Pps: 8, Aud: 9,
  StapA: 24, StapB: 25, Mtap16: 26, Mtap24: 27, FuA: 28, FuB: 29,
} as const;

const syntax: NalSyntax = {
  headerSize: 1,
  type: (nal) => nal[0] & 0x1f,
  isVcl: (t) => t >= 1 && t <= 5,
  isKeyframe: (t) => t === H264Nal.Idr,
  isParameterSet: (t) => t === H264Nal.Sps || t === H264Nal.Pps,
  audType: H264Nal.Aud,
  // 0 and 30/31 are unspecified, 24..29 are RTP aggregation/fragment types that must not nest.
  isDropped: (t) => t === 0 || t >= 24,
};

/** True if the NAL units contain an IDR slice. */
export function isH264Keyframe(nalus: Buffer[]): boolean {
  return nalus.some((n) => n.length > 0 && (n[0] & 0x1f) === H264Nal.Idr);
}

/**
 * Decodes a base64 fmtp value tolerantly into NAL units: strips Annex-B start codes around or inside
 * the sets (GW Security, Revotech; QUIRKS Q35) and never throws on garbage.
 */
export function decodeSpropNalus(value: string | undefined): Buffer[] {
  if (!value) return [];
  const out: Buffer[] = [];
  for (const part of value.split(',')) {
    const b64 = part.trim();
    if (b64 === '') continue;
    out.push(...splitAnnexB(Buffer.from(b64, 'base64')));
  }
  return out;
}

/** RTP payload format for H.264 (RFC 6184): single NAL, STAP-A/B, FU-A/B; any packetization-mode. */
export class H264Depacketizer extends NalDepacketizer {
  readonly codec = 'H264' as const;
  private sps?: Buffer;
  private pps?: Buffer;
  private spsInfo?: H264Sps;
  private readonly fallback: CodecParams = {};

  constructor(init: DepacketizerInit) {
    super(init, syntax);
    if (init.dimensions) {
      this.fallback.width = init.dimensions.width;
      this.fallback.height = init.dimensions.height;
    }
    // sprop-parameter-sets are hints only: keep what parses, ignore the rest (VStarcam, QUIRKS Q35).
    for (const nal of decodeSpropNalus(init.fmtp['sprop-parameter-sets'])) {
      this.learnParameterSet(nal, nal[0] & 0x1f, false);
    }
    // profile-level-id is used only while no SPS is known, and only if it is well-formed hex
    // (macro-video sends base64 'TQAf', GW Security 7 digits; QUIRKS Q35).
    const pli = init.fmtp['profile-level-id']?.trim();
    if (pli && /^[0-9a-f]{6}$/i.test(pli)) this.fallback.codecString = `avc1.${pli.toLowerCase()}`;
  }

  params(): CodecParams {
    const p: CodecParams = { ...this.fallback };
    if (this.sps && this.spsInfo) {
      p.codecString = h264CodecString(this.sps);
      p.width = this.spsInfo.width;
      p.height = this.spsInfo.height;
      if (this.spsInfo.fps !== undefined) p.fps = this.spsInfo.fps;
      else delete p.fps;
      p.profile = this.spsInfo.profileIdc;
      p.level = this.spsInfo.levelIdc;
      p.sps = this.sps;
    }
    if (this.pps) p.pps = this.pps;
    return p;
  }

  protected parameterSets(): Array<{ type: number; nal: Buffer }> {
    const s: Array<{ type: number; nal: Buffer }> = [];
    if (this.sps) s.push({ type: H264Nal.Sps, nal: this.sps });
    if (this.pps) s.push({ type: H264Nal.Pps, nal: this.pps });
    return s;
  }

  protected learn(nal: Buffer, type: number): void {
    this.learnParameterSet(nal, type, true);
  }

  private learnParameterSet(nal: Buffer, type: number, inBand: boolean): void {
    if (type === H264Nal.Sps) {
      if (this.sps?.equals(nal)) return;
      const r = parseH264Sps(nal);
      if (!r.ok) {
        if (inBand) this.error(r.error);
        return;
      }
      // Copy: the NAL may be a view into a packet buffer the caller reuses.
      this.sps = Buffer.from(nal);
      this.spsInfo = r.value;
      if (inBand) this.paramsVersion++;
    } else if (type === H264Nal.Pps) {
      if (nal.length < 2 || this.pps?.equals(nal)) return;
      this.pps = Buffer.from(nal);
      if (inBand) this.paramsVersion++;
    }
  }

  protected handlePayload(payload: Buffer): void {
    // A whole Annex-B stream in a packet (SPS+PPS+IDR with start codes; QUIRKS Q36).
    if (payload.length >= 3 && payload[0] === 0 && payload[1] === 0 && (payload[2] === 1 || payload[2] === 0)) {
      this.checkNoOpenFragment();
      for (const nal of splitAnnexB(payload)) this.addNal(nal);
      return;
    }
    const type = payload[0] & 0x1f;
    switch (type) {
      case H264Nal.StapA:
      case H264Nal.StapB:
        this.checkNoOpenFragment();
        this.handleStap(payload, type === H264Nal.StapB ? 3 : 1);
        return;
      case H264Nal.FuA:
      case H264Nal.FuB:
        this.handleFu(payload, type === H264Nal.FuB);
        return;
      case H264Nal.Mtap16:
      case H264Nal.Mtap24:
        // Interleaved mode (packetization-mode=2) is not offered by cameras; skip the packet.
        this.checkNoOpenFragment();
        this.error(`unsupported NAL type ${type}`);
        return;
      default:
        this.checkNoOpenFragment();
        this.addNal(payload);
    }
  }

  /** STAP-A (RFC 6184 5.7.1); STAP-B has a 16-bit DON first. */
  private handleStap(payload: Buffer, start: number): void {
    let off = start;
    while (off + 2 <= payload.length) {
      const size = payload.readUInt16BE(off);
      off += 2;
      // Zero-length entries are padding some payloaders add (gortsplib isAllZero; QUIRKS Q36).
      if (size === 0) continue;
      if (off + size > payload.length) {
        this.error('STAP-A entry overruns packet');
        return;
      }
      this.addNal(payload.subarray(off, off + size));
      off += size;
    }
  }

  /** FU-A (RFC 6184 5.8); FU-B carries a 16-bit DON after the FU header of the first fragment. */
  private handleFu(payload: Buffer, isFuB: boolean): void {
    if (payload.length < 2) {
      this.error('FU-A too short');
      return;
    }
    const fuHeader = payload[1];
    const start = (fuHeader & 0x80) !== 0;
    const end = (fuHeader & 0x40) !== 0;
    // The R bit (0x20) is ignored: Longse CMSEKL800 sets it (QUIRKS Q36).
    if (start) {
      const skip = isFuB ? 4 : 2;
      if (payload.length < skip) {
        this.error('FU-B too short');
        return;
      }
      const header = Buffer.from([(payload[0] & 0xe0) | (fuHeader & 0x1f)]);
      this.fuStart(header, payload.subarray(skip));
      // S and E in one fragment (CostarHD, QUIRKS Q36): a complete NAL unit.
      if (end) this.fuEnd();
    } else {
      this.fuContinue(payload.subarray(2), end);
    }
  }
}
