import type { CodecName, CodecParams, DepacketizerInit, DepacketizerStats, Frame, RtpPacketIn } from '../types.ts';
export type { DepacketizerInit } from '../types.ts';
import { hasStartCode, splitAnnexB } from '../annexb.ts';


/** An access unit larger than this means markers were lost or the stream is garbage (go2rtc#675). */
export const MAX_AU_BYTES = 8 * 1024 * 1024;

/** How a codec classifies its NAL units; the assembler is otherwise codec-agnostic. */
export interface NalSyntax {
  /** 1 for H.264, 2 for H.265. */
  headerSize: number;
  type(nal: Buffer): number;
  isVcl(type: number): boolean;
  isKeyframe(type: number): boolean;
  isParameterSet(type: number): boolean;
  /** Access unit delimiter type, which must stay first in an AU. */
  audType: number;
  /** Types that must not be kept in an access unit (reserved/unspecified, aggregation types). */
  isDropped(type: number): boolean;
}

/**
 * The part of H.264/H.265 depacketization that is the same for both: access-unit assembly
 * (boundaries on marker or timestamp change), fragment reassembly, loss handling, the AU size cap,
 * and putting parameter sets in front of keyframes. Subclasses parse the payload formats and learn
 * parameter sets.
 */
export abstract class NalDepacketizer {
  abstract readonly codec: CodecName;
  readonly clockRate: number;
  readonly stats: DepacketizerStats = { framesOut: 0, framesDropped: 0, errors: 0 };
  /** Bumped each time in-band parameter sets change the codec parameters (QUIRKS Q37). */
  paramsVersion = 0;

  protected au: Buffer[] = [];
  private auBytes = 0;
  private auHasVcl = false;
  private auTimestamp = 0;
  /** After loss or a broken fragment: drop everything until an access unit with a keyframe. */
  private waitKeyframe = false;

  private fuParts: Buffer[] = [];
  private fuBytes = 0;
  private fuActive = false;

  private out: Frame[] = [];

  protected constructor(
    init: DepacketizerInit,
    private readonly syntax: NalSyntax,
  ) {
    this.clockRate = init.clockRate;
  }

  /** Bytes held for the access unit and fragment being built (bounded by MAX_AU_BYTES). */
  get bufferedBytes(): number {
    return this.auBytes + this.fuBytes;
  }

  abstract params(): CodecParams;
  /** Parses one RTP payload, calling addNal / fuStart / fuContinue. */
  protected abstract handlePayload(payload: Buffer): void;
  /** Called for every NAL unit kept, so subclasses can learn parameter sets. */
  protected abstract learn(nal: Buffer, type: number): void;
  /** Current parameter sets, in decoding order (VPS, SPS, PPS), with their NAL types. */
  protected abstract parameterSets(): Array<{ type: number; nal: Buffer }>;

  push(pkt: RtpPacketIn, lostBefore: boolean): Frame[] {
    this.out = [];
    try {
      if (lostBefore) this.discard(false, 'packet loss');
      if (pkt.timestamp !== this.auTimestamp) {
        // A fragment still open when the timestamp moves on lost its end.
        if (this.fuActive) this.discard(true, 'fragmented NAL unit without end');
        else if (this.auHasVcl) this.flush();
        // A timestamp change also ends an AU that had no marker (FLIR M400, QUIRKS Q36).
      }
      this.auTimestamp = pkt.timestamp;
      if (pkt.payload.length === 0) {
        this.error('empty RTP payload');
      } else {
        this.handlePayload(pkt.payload);
      }
      // Parameter sets/SEI/AUD with the marker bit never end an AU (Tapo/Reolink/H264DVR, QUIRKS Q36).
      if (pkt.marker && this.auHasVcl && !this.fuActive) this.flush();
    } catch (e) {
      // Defensive: a bug in payload parsing must never escape into the socket handler.
      this.discard(true, `internal: ${(e as Error)?.message ?? String(e)}`);
    }
    return this.out;
  }

  protected error(msg: string): void {
    this.stats.errors++;
    this.stats.lastError = msg;
  }

  /**
   * Drops the access unit being built and anything until the next keyframe. `isError` counts a
   * malformed-stream error; loss itself is the receiver's statistic.
   */
  protected discard(isError: boolean, reason: string): void {
    if (isError) this.error(reason);
    if (this.au.length > 0 || this.fuActive) this.stats.framesDropped++;
    this.au = [];
    this.auBytes = 0;
    this.auHasVcl = false;
    this.fuParts = [];
    this.fuBytes = 0;
    this.fuActive = false;
    this.waitKeyframe = true;
  }

  /** A complete NAL unit from the payload; Annex-B inside it is split (QUIRKS Q36). */
  protected addNal(nal: Buffer): void {
    if (nal.length >= 3 && hasStartCode(nal)) {
      for (const n of splitAnnexB(nal)) this.addOneNal(n);
    } else {
      this.addOneNal(nal);
    }
  }

  private addOneNal(nal: Buffer): void {
    if (nal.length < this.syntax.headerSize) return;
    const type = this.syntax.type(nal);
    // Reserved/unspecified NAL types carry nothing a decoder can use (go2rtc#1570, QUIRKS Q36).
    if (this.syntax.isDropped(type)) return;
    // rtph264pay/rtph265pay with config-interval=-1 repeat SPS/PPS before every IDR slice of a
    // multi-slice picture; a parameter set after a slice makes decoders start a new picture, so
    // an exact repeat within the AU is dropped.
    if (this.syntax.isParameterSet(type) && this.au.some((n) => n.equals(nal))) return;
    if (this.auBytes + nal.length > MAX_AU_BYTES) {
      this.discard(true, 'access unit exceeds size cap');
      return;
    }
    this.learn(nal, type);
    this.au.push(nal);
    this.auBytes += nal.length;
    if (this.syntax.isVcl(type)) this.auHasVcl = true;
  }

  /** Start of a fragmented NAL unit; `header` is the reconstructed NAL header. */
  protected fuStart(header: Buffer, data: Buffer): void {
    if (this.fuActive) {
      this.discard(true, 'fragmented NAL unit restarted without end');
    }
    this.fuActive = true;
    this.fuParts = [header, data];
    this.fuBytes = header.length + data.length;
  }

  protected fuContinue(data: Buffer, end: boolean): void {
    if (!this.fuActive) {
      // The start was lost or never sent; after a reported loss this is expected, so stay quiet.
      if (!this.waitKeyframe) this.discard(true, 'fragment without start');
      return;
    }
    if (this.auBytes + this.fuBytes + data.length > MAX_AU_BYTES) {
      this.discard(true, 'access unit exceeds size cap');
      return;
    }
    this.fuParts.push(data);
    this.fuBytes += data.length;
    if (end) this.fuEnd();
  }

  /** Ends the current fragmented NAL unit (also used for S+E single-fragment FUs). */
  protected fuEnd(): void {
    const nal = Buffer.concat(this.fuParts, this.fuBytes);
    this.fuParts = [];
    this.fuBytes = 0;
    this.fuActive = false;
    this.addNal(nal);
  }

  /** A non-fragment payload arrived while a fragment was open: the fragment lost its end. */
  protected checkNoOpenFragment(): void {
    if (this.fuActive) this.discard(true, 'fragmented NAL unit interrupted');
  }

  private flush(): void {
    const nalus = this.au;
    const timestamp = this.auTimestamp;
    this.au = [];
    this.auBytes = 0;
    this.auHasVcl = false;
    let keyframe = false;
    for (const n of nalus) {
      if (this.syntax.isKeyframe(this.syntax.type(n))) {
        keyframe = true;
        break;
      }
    }
    if (this.waitKeyframe && !keyframe) {
      this.stats.framesDropped++;
      return;
    }
    this.waitKeyframe = false;
    const data = keyframe ? this.withParameterSets(nalus) : nalus;
    this.stats.framesOut++;
    this.out.push({ timestamp, keyframe, data });
  }

  /** Puts any missing current parameter set in front of the first NAL that depends on it. */
  private withParameterSets(nalus: Buffer[]): Buffer[] {
    const sets = this.parameterSets();
    if (sets.length === 0) return nalus;
    const present = new Set(nalus.map((n) => this.syntax.type(n)));
    const missing = sets.filter((s) => !present.has(s.type));
    if (missing.length === 0) return nalus;
    // Decoding order within an AU: AUD, then VPS/SPS/PPS in type order, then SEI and slices
    // (H.264 7.4.1.2.3, H.265 7.4.2.4.4). Insert each missing set after the AUD and any earlier set.
    const result = nalus.slice();
    for (const m of missing) {
      let idx = result.findIndex((n) => {
        const t = this.syntax.type(n);
        return t !== this.syntax.audType && !(this.syntax.isParameterSet(t) && t < m.type);
      });
      if (idx < 0) idx = result.length;
      result.splice(idx, 0, m.nal);
    }
    return result;
  }
}
