import { err, ok, type Result } from '../../util/result.ts';
import type { CodecParams, Depacketizer, DepacketizerStats, Frame, RtpPacketIn } from '../types.ts';
import { aacCodecString, buildAudioSpecificConfig, hexToBuffer, readAudioSpecificConfig, type AudioSpecificConfig } from './asc.ts';
import { BitReader } from './bits.ts';
import { fmtpInt, normalizeFmtp, type DepacketizerInit } from './fmtp.ts';
import { AAC_MAX_AU_BYTES } from './mpeg4-generic.ts';

/** The parts of a StreamMuxConfig (ISO/IEC 14496-3 §1.7.3) camgate supports: one program, one layer. */
export interface StreamMuxConfig {
  audioMuxVersion: number;
  allStreamsSameTimeFraming: boolean;
  /** numSubFrames + 1: AUs per AudioMuxElement. */
  subFrames: number;
  asc: AudioSpecificConfig;
  /** 0: variable length, PayloadLengthInfo before each AU; 1: fixed `frameLength`. */
  frameLengthType: number;
  fixedFrameLength: number;
  otherDataBits: number;
  crcCheckPresent: boolean;
}

/** LatmGetValue(): 2 bits say how many bytes follow. */
function latmGetValue(br: BitReader): number {
  const bytes = br.read(2) + 1;
  let v = 0;
  for (let i = 0; i < bytes; i++) v = v * 256 + br.read(8);
  return v;
}

/**
 * Reads a StreamMuxConfig. `lenientTail` (for the fmtp `config=`, where nothing follows) accepts a config
 * that ends right after the AudioSpecificConfig, as if frameLengthType = 0 with no other data and no CRC.
 */
export function readStreamMuxConfig(br: BitReader, lenientTail = false): Result<StreamMuxConfig> {
  const audioMuxVersion = br.read(1);
  const audioMuxVersionA = audioMuxVersion === 1 ? br.read(1) : 0;
  if (audioMuxVersionA !== 0) return err('audioMuxVersionA 1 is reserved');
  if (audioMuxVersion === 1) latmGetValue(br); // taraBufferFullness
  const allStreamsSameTimeFraming = br.read(1) === 1;
  const subFrames = br.read(6) + 1;
  const numProgram = br.read(4) + 1;
  const numLayer = br.read(3) + 1;
  if (numProgram !== 1 || numLayer !== 1) return err(`LATM with ${numProgram} programs/${numLayer} layers unsupported`);
  let asc: Result<AudioSpecificConfig>;
  if (audioMuxVersion === 0) {
    asc = readAudioSpecificConfig(br);
  } else {
    const ascLen = latmGetValue(br);
    const start = br.bitPos;
    asc = readAudioSpecificConfig(br);
    const used = br.bitPos - start;
    if (ascLen < used) return err('AudioSpecificConfig longer than ascLen');
    br.skip(ascLen - used);
  }
  if (!asc.ok) return err(`StreamMuxConfig: ${asc.error}`);
  // GStreamer rtpmp4apay stops its config= after a padded ASC, leaving out frameLengthType and the
  // rest (seen with avenc_aac; QUIRKS Q41, mediamtx#1694): variable frame lengths are what it sends.
  if (lenientTail && br.bitsLeft < 13) {
    return ok({ audioMuxVersion, allStreamsSameTimeFraming, subFrames, asc: asc.value, frameLengthType: 0, fixedFrameLength: 0, otherDataBits: 0, crcCheckPresent: false });
  }
  const frameLengthType = br.read(3);
  let fixedFrameLength = 0;
  if (frameLengthType === 0) br.read(8); // latmBufferFullness
  else if (frameLengthType === 1) fixedFrameLength = br.read(9);
  else return err(`frameLengthType ${frameLengthType} (CELP/HVXC) unsupported`);
  let otherDataBits = 0;
  if (br.read(1) === 1) {
    if (audioMuxVersion === 1) otherDataBits = latmGetValue(br);
    else {
      let esc = 1;
      for (let i = 0; esc === 1 && i < 8; i++) {
        esc = br.read(1);
        otherDataBits = otherDataBits * 256 + br.read(8);
      }
    }
  }
  const crcCheckPresent = br.read(1) === 1;
  if (crcCheckPresent) br.read(8);
  if (br.overrun) return err('StreamMuxConfig truncated');
  return ok({ audioMuxVersion, allStreamsSameTimeFraming, subFrames, asc: asc.value, frameLengthType, fixedFrameLength, otherDataBits, crcCheckPresent });
}

/** Parses the fmtp `config=` StreamMuxConfig (RFC 6416 §7.1). */
export function parseStreamMuxConfig(buf: Buffer): Result<StreamMuxConfig> {
  return readStreamMuxConfig(new BitReader(buf), true);
}

/**
 * RFC 6416 MP4A-LATM depacketizer. An AudioMuxElement may span several packets (marker on the last);
 * each of its subframes becomes one raw-AU Frame.
 */
export class LatmDepacketizer implements Depacketizer {
  readonly codec = 'AAC' as const;
  readonly clockRate: number;
  readonly stats: DepacketizerStats = { framesOut: 0, framesDropped: 0, errors: 0 };

  /** cpresent=1: each AudioMuxElement starts with useSameStreamMux and may carry a StreamMuxConfig. */
  private inBand: boolean;
  private config: StreamMuxConfig | undefined;
  private ascBytes: Buffer | undefined;
  private readonly rtpmapChannels: number | undefined;
  private parts: Buffer[] = [];
  private have = 0;
  private partsTimestamp = 0;

  constructor(init: DepacketizerInit) {
    this.clockRate = init.clockRate > 0 ? init.clockRate : 90000;
    this.rtpmapChannels = init.channels;
    const f = normalizeFmtp(init.fmtp);
    this.inBand = fmtpInt(f, 'cpresent', 1) !== 0;
    const cfg = hexToBuffer(f.get('config') ?? '');
    if (cfg) {
      const smc = parseStreamMuxConfig(cfg);
      if (smc.ok) this.setConfig(smc.value);
      else this.stats.lastError = `config: ${smc.error}`;
    } else if (!this.inBand) {
      // cpresent=0 with an empty config= (mediamtx#3590, QUIRKS Q41): nothing to decode with; look for
      // an in-band StreamMuxConfig instead of crashing or dropping the track outright.
      this.inBand = true;
      this.stats.lastError = 'cpresent=0 without config: waiting for an in-band StreamMuxConfig';
    }
  }

  params(): CodecParams {
    const asc = this.config?.asc;
    return {
      ...(asc ? { codecString: aacCodecString(asc) } : {}),
      sampleRate: asc?.sampleRate ?? this.clockRate,
      channels: asc?.channels ?? this.rtpmapChannels ?? 1,
      ...(this.ascBytes ? { audioSpecificConfig: this.ascBytes } : {}),
    };
  }

  push(pkt: RtpPacketIn, lostBefore: boolean): Frame[] {
    try {
      return this.pushInner(pkt, lostBefore);
    } catch (e) {
      this.fail(`internal: ${(e as Error).message}`);
      this.reset(true);
      return [];
    }
  }

  private pushInner(pkt: RtpPacketIn, lostBefore: boolean): Frame[] {
    const out: Frame[] = [];
    if (lostBefore) this.reset(true);
    if (this.have > 0 && pkt.timestamp !== this.partsTimestamp) {
      // The previous element never got its marker: try it whole (a camera that never sets M), else drop.
      out.push(...this.flush());
    }
    if (pkt.payload.length === 0) {
      this.fail('empty payload');
      return out;
    }
    if (this.have + pkt.payload.length > AAC_MAX_AU_BYTES) {
      this.fail('AudioMuxElement exceeds the reassembly cap');
      this.reset(true);
      return out;
    }
    if (this.have === 0) this.partsTimestamp = pkt.timestamp;
    this.parts.push(pkt.payload);
    this.have += pkt.payload.length;
    if (pkt.marker) out.push(...this.flush());
    return out;
  }

  private flush(): Frame[] {
    const element = Buffer.concat(this.parts, this.have);
    const ts = this.partsTimestamp;
    this.reset(false);
    const r = this.parseAudioMuxElement(element, ts);
    if (!r.ok) {
      this.fail(r.error);
      this.stats.framesDropped++;
      return [];
    }
    this.stats.framesOut += r.value.length;
    return r.value;
  }

  private parseAudioMuxElement(buf: Buffer, timestamp: number): Result<Frame[]> {
    const br = new BitReader(buf);
    if (this.inBand) {
      const useSameStreamMux = br.read(1);
      if (useSameStreamMux === 0) {
        const smc = readStreamMuxConfig(br);
        if (!smc.ok) return err(smc.error);
        this.setConfig(smc.value);
      }
    }
    const cfg = this.config;
    if (!cfg) return err('no StreamMuxConfig yet: AudioMuxElement dropped');
    const dur = Math.max(1, Math.round((cfg.asc.frameLength * this.clockRate) / cfg.asc.sampleRate));
    const frames: Frame[] = [];
    for (let i = 0; i < cfg.subFrames; i++) {
      let len: number;
      if (cfg.frameLengthType === 0) {
        // PayloadLengthInfo: bytes of 255 continue the length.
        len = 0;
        let b: number;
        do {
          b = br.read(8);
          len += b;
        } while (b === 255 && !br.overrun);
      } else {
        len = cfg.fixedFrameLength;
      }
      const au = br.readBytes(len);
      if (!au || br.overrun) return err(`PayloadMux of ${len} bytes overruns the element`);
      if (au.length > 0) frames.push({ timestamp: timestamp + i * dur, keyframe: true, data: [au] });
    }
    return ok(frames);
  }

  private setConfig(c: StreamMuxConfig): void {
    this.config = c;
    this.ascBytes = buildAudioSpecificConfig(c.asc);
  }

  private reset(dropped: boolean): void {
    if (dropped && this.have > 0) this.stats.framesDropped++;
    this.parts = [];
    this.have = 0;
  }

  private fail(msg: string): void {
    this.stats.errors++;
    this.stats.lastError = msg;
  }
}
