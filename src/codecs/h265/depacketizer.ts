import type { CodecParams } from '../types.ts';
import { splitAnnexB } from '../annexb.ts';
import { NalDepacketizer } from '../h264/access-unit.ts';
import type { DepacketizerInit, NalSyntax } from '../h264/access-unit.ts';
import { decodeSpropNalus } from '../h264/depacketizer.ts';
import { h265CodecString, parseH265Sps } from './sps.ts';
import type { H265Sps } from './sps.ts';

/** H.265 NAL unit types used here (ITU-T H.265 Table 7-1, RFC 7798 4.4). */
export const H265Nal = {
  IrapFirst: 16, IrapLast: 23, Vps: 32, Sps: 33, Pps: 34, Aud: 35, PrefixSei: 39, SuffixSei: 40,
  Ap: 48, Fu: 49, Paci: 50,
} as const;

const nalType = (nal: Buffer) => (nal[0] >> 1) & 0x3f;

const syntax: NalSyntax = {
  headerSize: 2,
  type: nalType,
  isVcl: (t) => t < 32,
  isKeyframe: (t) => t >= H265Nal.IrapFirst && t <= H265Nal.IrapLast,
  isParameterSet: (t) => t >= H265Nal.Vps && t <= H265Nal.Pps,
  audType: H265Nal.Aud,
  // 41..47 reserved, 48..63 unspecified (48..50 are RTP payload structures that must not nest).
  isDropped: (t) => t > 40,
};

/** True if the NAL units contain an IRAP picture (types 16..23: BLA, IDR, CRA, reserved IRAP). */
export function isH265Keyframe(nalus: Buffer[]): boolean {
  return nalus.some((n) => n.length >= 2 && syntax.isKeyframe(nalType(n)));
}

/**
 * RTP payload format for H.265 (RFC 7798): single NAL, AP (48), FU (49), with DONL/DOND when the
 * stream declares sprop-max-don-diff > 0. PACI (50) packets are skipped.
 */
export class H265Depacketizer extends NalDepacketizer {
  readonly codec = 'H265' as const;
  /** DONL/DOND fields are present (RFC 7798 7.1: sprop-max-don-diff > 0). */
  readonly usingDonl: boolean;
  private vps?: Buffer;
  private sps?: Buffer;
  private pps?: Buffer;
  private spsInfo?: H265Sps;
  private readonly fallback: CodecParams = {};

  constructor(init: DepacketizerInit) {
    super(init, syntax);
    // FFmpeg also treats sprop-depack-buf-nalus > 0 as a sign of DON fields; so do we.
    const maxDonDiff = Number.parseInt(init.fmtp['sprop-max-don-diff'] ?? '0', 10);
    const depackBuf = Number.parseInt(init.fmtp['sprop-depack-buf-nalus'] ?? '0', 10);
    this.usingDonl = maxDonDiff > 0 || depackBuf > 0;
    if (init.dimensions) {
      this.fallback.width = init.dimensions.width;
      this.fallback.height = init.dimensions.height;
    }
    // Hints only; any of the three may be missing or wrong, and H.264 keys (packetization-mode,
    // sprop-parameter-sets; Anjvision, Ezviz C6N) are ignored (QUIRKS Q35, Q38).
    for (const key of ['sprop-vps', 'sprop-sps', 'sprop-pps']) {
      for (const nal of decodeSpropNalus(init.fmtp[key])) {
        if (nal.length >= 2) this.learnParameterSet(nal, nalType(nal), false);
      }
    }
  }

  params(): CodecParams {
    const p: CodecParams = { ...this.fallback };
    if (this.sps && this.spsInfo) {
      p.codecString = h265CodecString(this.spsInfo);
      p.width = this.spsInfo.width;
      p.height = this.spsInfo.height;
      if (this.spsInfo.fps !== undefined) p.fps = this.spsInfo.fps;
      p.profile = this.spsInfo.generalProfileIdc;
      p.level = this.spsInfo.generalLevelIdc;
      p.sps = this.sps;
    }
    if (this.vps) p.vps = this.vps;
    if (this.pps) p.pps = this.pps;
    return p;
  }

  protected parameterSets(): Array<{ type: number; nal: Buffer }> {
    const s: Array<{ type: number; nal: Buffer }> = [];
    if (this.vps) s.push({ type: H265Nal.Vps, nal: this.vps });
    if (this.sps) s.push({ type: H265Nal.Sps, nal: this.sps });
    if (this.pps) s.push({ type: H265Nal.Pps, nal: this.pps });
    return s;
  }

  protected learn(nal: Buffer, type: number): void {
    this.learnParameterSet(nal, type, true);
  }

  private learnParameterSet(nal: Buffer, type: number, inBand: boolean): void {
    if (type === H265Nal.Sps) {
      if (this.sps?.equals(nal)) return;
      const r = parseH265Sps(nal);
      if (!r.ok) {
        if (inBand) this.error(r.error);
        return;
      }
      this.sps = Buffer.from(nal);
      this.spsInfo = r.value;
      if (inBand) this.paramsVersion++;
    } else if (type === H265Nal.Vps || type === H265Nal.Pps) {
      if (nal.length < 3) return;
      const cur = type === H265Nal.Vps ? this.vps : this.pps;
      if (cur?.equals(nal)) return;
      if (type === H265Nal.Vps) this.vps = Buffer.from(nal);
      else this.pps = Buffer.from(nal);
      if (inBand) this.paramsVersion++;
    }
  }

  protected handlePayload(payload: Buffer): void {
    // A whole Annex-B stream in one packet (QUIRKS Q36 applies to H.265 cameras too).
    if (payload.length >= 3 && payload[0] === 0 && payload[1] === 0 && (payload[2] === 1 || payload[2] === 0)) {
      this.checkNoOpenFragment();
      for (const nal of splitAnnexB(payload)) this.addNal(nal);
      return;
    }
    if (payload.length < 3) {
      this.error('H.265 payload too short');
      return;
    }
    const type = nalType(payload);
    switch (type) {
      case H265Nal.Ap:
        this.checkNoOpenFragment();
        this.handleAp(payload);
        return;
      case H265Nal.Fu:
        this.handleFu(payload);
        return;
      case H265Nal.Paci:
        // PACI (RFC 7798 4.4.4) is not used by cameras; skip it rather than fail (QUIRKS Q38).
        this.checkNoOpenFragment();
        this.error('PACI packet skipped');
        return;
      default:
        this.checkNoOpenFragment();
        if (this.usingDonl) {
          // Single NAL unit packet: PayloadHdr, DONL, NAL unit payload (RFC 7798 4.4.1).
          if (payload.length < 5) {
            this.error('single NAL unit packet too short for DONL');
            return;
          }
          this.addNal(Buffer.concat([payload.subarray(0, 2), payload.subarray(4)]));
        } else {
          this.addNal(payload);
        }
    }
  }

  /** Aggregation Packet (RFC 7798 4.4.2): [DONL] size NAL, then [DOND] size NAL, … */
  private handleAp(payload: Buffer): void {
    let off = 2;
    let first = true;
    while (off < payload.length) {
      if (this.usingDonl) off += first ? 2 : 1;
      first = false;
      if (off + 2 > payload.length) break;
      const size = payload.readUInt16BE(off);
      off += 2;
      if (size === 0) continue;
      if (off + size > payload.length) {
        this.error('AP entry overruns packet');
        return;
      }
      this.addNal(payload.subarray(off, off + size));
      off += size;
    }
  }

  /**
   * Fragmentation Unit (RFC 7798 4.4.3): PayloadHdr, FU header (S, E, FuType), DONL only in the
   * fragment with S=1, then the fragment.
   */
  private handleFu(payload: Buffer): void {
    const fuHeader = payload[2];
    const start = (fuHeader & 0x80) !== 0;
    const end = (fuHeader & 0x40) !== 0;
    if (start) {
      const skip = this.usingDonl ? 5 : 3;
      if (payload.length < skip) {
        this.error('FU too short');
        return;
      }
      const header = Buffer.from([(payload[0] & 0x81) | ((fuHeader & 0x3f) << 1), payload[1]]);
      this.fuStart(header, payload.subarray(skip));
      // S and E together (OpenIPC, QUIRKS Q38): a complete NAL unit in one fragment.
      if (end) this.fuEnd();
    } else {
      this.fuContinue(payload.subarray(3), end);
    }
  }
}
