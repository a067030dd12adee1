import type { CodecParams, Depacketizer, DepacketizerStats, Frame, RtpPacketIn } from '../types.ts';
import {
  aacCodecString,
  buildAudioSpecificConfig,
  hexToBuffer,
  parseAdtsHeader,
  parseAudioSpecificConfig,
  stripAdts,
  type AudioSpecificConfig,
} from './asc.ts';
import { BitReader } from './bits.ts';
import { fmtpInt, normalizeFmtp, type DepacketizerInit } from './fmtp.ts';

/** Most bytes of one AU kept while reassembling fragments (an AAC AU is a few KB at most). */
export const AAC_MAX_AU_BYTES = 64 * 1024;
/** Most AU-headers accepted in one packet; more means a corrupt AU-headers-length. */
const MAX_AUS_PER_PACKET = 512;

interface AuHeader {
  size: number;
  /** AU index relative to the first AU of the packet (RFC 3640 §3.2.1.1: index + delta + 1). */
  index: number;
}

interface Fragment {
  timestamp: number;
  size: number;
  parts: Buffer[];
  have: number;
}

/**
 * RFC 3640 (mpeg4-generic) depacketizer for AAC in the AAC-hbr / AAC-lbr modes.
 * Output frames are raw AUs (no ADTS), one per Frame, keyframe=true.
 */
export class Mpeg4GenericDepacketizer implements Depacketizer {
  readonly codec = 'AAC' as const;
  readonly clockRate: number;
  readonly stats: DepacketizerStats = { framesOut: 0, framesDropped: 0, errors: 0 };

  private readonly sizeLength: number;
  private readonly indexLength: number;
  private readonly indexDeltaLength: number;
  private readonly ctsDeltaLength: number;
  private readonly dtsDeltaLength: number;
  private readonly randomAccessIndication: boolean;
  private readonly streamStateIndication: number;
  private readonly auxiliaryDataSizeLength: number;
  private readonly rtpmapChannels: number | undefined;
  private asc: AudioSpecificConfig | undefined;
  private ascBytes: Buffer | undefined;
  private frag: Fragment | undefined;
  /** Timestamp of an AU whose fragment was lost: its remaining fragments are discarded. */
  private skipTimestamp: number | undefined;

  constructor(init: DepacketizerInit) {
    this.clockRate = init.clockRate > 0 ? init.clockRate : 90000;
    this.rtpmapChannels = init.channels;
    const f = normalizeFmtp(init.fmtp);
    // AVOIP encoders write mode=AAC_hbr (QUIRKS Q40); a missing mode with no sizelength (Anpviz SDP) is AAC in practice.
    const mode = (f.get('mode') ?? '').toLowerCase().replace(/_/g, '-');
    const lbr = mode === 'aac-lbr';
    const hasSizeLength = f.has('sizelength');
    const sizeDefault = lbr ? 6 : 13;
    const indexDefault = lbr ? 2 : 3;
    // Defaults for AAC-hbr/lbr when the camera leaves the lengths out (gortsplib@b1674ff9, QUIRKS Q40).
    const useDefaults = mode === 'aac-hbr' || lbr || mode === '' || !hasSizeLength;
    this.sizeLength = clampBits(fmtpInt(f, 'sizelength', useDefaults ? sizeDefault : 0));
    this.indexLength = clampBits(fmtpInt(f, 'indexlength', useDefaults ? indexDefault : 0));
    this.indexDeltaLength = clampBits(fmtpInt(f, 'indexdeltalength', useDefaults ? indexDefault : 0));
    this.ctsDeltaLength = clampBits(fmtpInt(f, 'ctsdeltalength', 0));
    this.dtsDeltaLength = clampBits(fmtpInt(f, 'dtsdeltalength', 0));
    this.randomAccessIndication = fmtpInt(f, 'randomaccessindication', 0) === 1;
    this.streamStateIndication = clampBits(fmtpInt(f, 'streamstateindication', 0));
    this.auxiliaryDataSizeLength = clampBits(fmtpInt(f, 'auxiliarydatasizelength', 0));

    const cfg = hexToBuffer(f.get('config') ?? '');
    if (cfg) {
      const asc = parseAudioSpecificConfig(cfg);
      if (asc.ok) {
        this.asc = asc.value;
        this.ascBytes = cfg;
      } else {
        this.stats.lastError = `config: ${asc.error}`;
      }
    }
  }

  params(): CodecParams {
    return {
      codecString: this.asc ? aacCodecString(this.asc) : 'mp4a.40.2',
      sampleRate: this.asc?.sampleRate ?? this.clockRate,
      channels: this.asc?.channels ?? this.rtpmapChannels ?? 1,
      ...(this.ascBytes ? { audioSpecificConfig: this.ascBytes } : {}),
    };
  }

  push(pkt: RtpPacketIn, lostBefore: boolean): Frame[] {
    try {
      return this.pushInner(pkt, lostBefore);
    } catch (e) {
      // Defensive: nothing above should throw, but a socket handler must never see it if it does.
      this.fail(`internal: ${(e as Error).message}`);
      this.dropFragment();
      return [];
    }
  }

  /** AU duration in RTP clock units (clock = rtpmap rate; the config may say another sample rate). */
  private auDuration(): number {
    if (!this.asc) return 1024;
    return Math.max(1, Math.round((this.asc.frameLength * this.clockRate) / this.asc.sampleRate));
  }

  private pushInner(pkt: RtpPacketIn, lostBefore: boolean): Frame[] {
    if (lostBefore && this.frag) {
      this.skipTimestamp = this.frag.timestamp;
      this.dropFragment();
    }
    if (this.skipTimestamp !== undefined) {
      if (pkt.timestamp === this.skipTimestamp) return [];
      this.skipTimestamp = undefined;
    }
    const payload = pkt.payload;
    if (payload.length === 0) {
      this.fail('empty payload');
      return [];
    }

    // Noname camera sends a bare ADTS frame with no AU-header section (go2rtc#1328, QUIRKS Q40).
    // Safe to test first: AU-headers-length 0xFFFx would need an 8 KB header section.
    if (payload[0] === 0xff && (payload[1]! & 0xf6) === 0xf0) {
      const adts = this.splitWholeAdts(payload);
      if (adts) {
        this.dropFragment();
        return adts.map((au, i) => this.emit(pkt.timestamp + i * this.auDuration(), au));
      }
    }

    const parsed = this.parseAuHeaders(payload);
    if (!parsed) {
      this.dropFragment();
      return [];
    }
    const { headers, dataStart } = parsed;

    // Continuation of a fragmented AU: same timestamp, one AU-header carrying the same AU-size.
    if (this.frag) {
      const f = this.frag;
      if (headers.length === 1 && pkt.timestamp === f.timestamp && headers[0]!.size === f.size) {
        const chunk = payload.subarray(dataStart);
        f.parts.push(chunk);
        f.have += chunk.length;
        if (f.have > f.size) {
          this.fail('AU fragments longer than AU-size');
          this.dropFragment();
          return [];
        }
        if (f.have === f.size) {
          this.frag = undefined;
          return this.emitAu(f.timestamp, Buffer.concat(f.parts, f.size));
        }
        if (pkt.marker) {
          this.fail('last AU fragment ends short of AU-size');
          this.dropFragment();
        }
        return [];
      }
      this.dropFragment();
    }

    const out: Frame[] = [];
    let off = dataStart;
    const dur = this.auDuration();
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i]!;
      const available = payload.length - off;
      if (h.size <= available) {
        out.push(...this.emitAu(pkt.timestamp + h.index * dur, payload.subarray(off, off + h.size)));
        off += h.size;
        continue;
      }
      // The AU does not fit: legal only for a lone AU, as the first fragment (RFC 3640 §3.2.3).
      if (headers.length !== 1 || pkt.marker || h.size > AAC_MAX_AU_BYTES) {
        this.fail(`AU-size ${h.size} exceeds the ${available} bytes left in the packet`);
        this.stats.framesDropped++;
        break;
      }
      const chunk = payload.subarray(off);
      this.frag = { timestamp: pkt.timestamp, size: h.size, parts: [chunk], have: chunk.length };
    }
    return out;
  }

  /** Every byte of the payload as back-to-back complete ADTS frames, or undefined. */
  private splitWholeAdts(payload: Buffer): Buffer[] | undefined {
    const aus: Buffer[] = [];
    let off = 0;
    while (off < payload.length) {
      const h = parseAdtsHeader(payload.subarray(off));
      if (!h.ok || off + h.value.frameLength > payload.length || h.value.frameLength === h.value.headerLength) return undefined;
      if (!this.asc) this.adoptAsc(h.value.asc);
      aus.push(payload.subarray(off + h.value.headerLength, off + h.value.frameLength));
      off += h.value.frameLength;
      if (aus.length > MAX_AUS_PER_PACKET) return undefined;
    }
    return aus.length > 0 ? aus : undefined;
  }

  /** Parses the AU-header section (RFC 3640 §3.2.1) and skips the auxiliary section (§3.2.2). */
  private parseAuHeaders(payload: Buffer): { headers: AuHeader[]; dataStart: number } | undefined {
    const anyHeaderField =
      this.sizeLength + this.indexLength + this.indexDeltaLength + this.ctsDeltaLength + this.dtsDeltaLength +
        this.streamStateIndication >
        0 || this.randomAccessIndication;
    let dataStart = 0;
    const headers: AuHeader[] = [];
    if (!anyHeaderField) {
      // No AU-header section: the whole payload is one AU.
      headers.push({ size: payload.length, index: 0 });
    } else {
      if (payload.length < 2) {
        this.fail('payload shorter than AU-headers-length');
        return undefined;
      }
      const headersBits = payload.readUInt16BE(0);
      const headersBytes = Math.ceil(headersBits / 8);
      if (2 + headersBytes > payload.length) {
        this.fail(`AU-headers-length ${headersBits} bits exceeds the payload`);
        return undefined;
      }
      const br = new BitReader(payload.subarray(0, 2 + headersBytes), 2);
      const end = 16 + headersBits;
      let index = 0;
      while (br.bitPos < end) {
        const first = headers.length === 0;
        const size = br.read(this.sizeLength);
        const idx = br.read(first ? this.indexLength : this.indexDeltaLength);
        if (!first) index += idx + 1;
        // CTS-flag/CTS-delta and DTS-flag/DTS-delta: read to stay aligned, unused (AAC has no reordering).
        if (this.ctsDeltaLength > 0 && br.read(1) === 1) br.read(this.ctsDeltaLength);
        if (this.dtsDeltaLength > 0 && br.read(1) === 1) br.read(this.dtsDeltaLength);
        if (this.randomAccessIndication) br.read(1);
        br.read(this.streamStateIndication);
        if (br.overrun || br.bitPos > end) {
          this.fail('AU-header truncated');
          return undefined;
        }
        headers.push({ size, index });
        if (headers.length > MAX_AUS_PER_PACKET) {
          this.fail('too many AU-headers');
          return undefined;
        }
        if (this.sizeLength + this.indexDeltaLength === 0) break; // zero-width headers would loop forever
      }
      dataStart = 2 + headersBytes;
      if (headers.length === 0) {
        this.fail('empty AU-header section');
        return undefined;
      }
    }
    if (this.auxiliaryDataSizeLength > 0) {
      const br = new BitReader(payload, dataStart);
      const auxBits = br.read(this.auxiliaryDataSizeLength);
      br.skip(auxBits);
      br.alignToByte();
      if (br.overrun) {
        this.fail('auxiliary section truncated');
        return undefined;
      }
      dataStart = br.bitPos / 8;
    }
    return { headers, dataStart };
  }

  /** One complete AU: strips an ADTS wrapper if present, then emits it. */
  private emitAu(timestamp: number, au: Buffer): Frame[] {
    if (au.length === 0) return [];
    // Reolink wraps every AU in an ADTS header (go2rtc@e295bc4e, QUIRKS Q40).
    const stripped = stripAdts(au);
    if (stripped) {
      if (!this.asc) this.adoptAsc(stripped.asc);
      au = stripped.payload;
    }
    return [this.emit(timestamp, au)];
  }

  private emit(timestamp: number, au: Buffer): Frame {
    this.stats.framesOut++;
    return { timestamp, keyframe: true, data: [Buffer.from(au)] };
  }

  private adoptAsc(asc: AudioSpecificConfig): void {
    this.asc = asc;
    this.ascBytes = buildAudioSpecificConfig(asc);
  }

  private dropFragment(): void {
    if (this.frag) {
      this.stats.framesDropped++;
      this.frag = undefined;
    }
  }

  private fail(msg: string): void {
    this.stats.errors++;
    this.stats.lastError = msg;
  }
}

/** Field widths above 32 bits are not meaningful for RFC 3640 AAC; treat them as absent. */
function clampBits(n: number): number {
  return n >= 0 && n <= 32 ? n : 0;
}
