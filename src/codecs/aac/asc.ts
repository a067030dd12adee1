import { err, ok, type Result } from '../../util/result.ts';
import { BitReader, BitWriter } from './bits.ts';

/** The fields of an MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) that camgate needs. */
export interface AudioSpecificConfig {
  /** Audio object type: 2 = AAC-LC, 5 = SBR (HE-AAC), 29 = PS (HE-AACv2). */
  objectType: number;
  /** Output sample rate in Hz (for SBR/PS: the extension rate). */
  sampleRate: number;
  channels: number;
  /** Output samples per access unit: 1024 or 960 for AAC-LC, doubled for SBR/PS. */
  frameLength: number;
}

/** samplingFrequencyIndex → Hz (ISO/IEC 14496-3 Table 1.18); 13 and 14 are reserved. */
export const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** channelConfiguration → channel count (Table 1.19); 0 means "defined in a PCE", 7 is 7.1. */
const CHANNELS_BY_CONFIG = [0, 1, 2, 3, 4, 5, 6, 8];

function readObjectType(br: BitReader): number {
  const t = br.read(5);
  return t === 31 ? 32 + br.read(6) : t;
}

function readSampleRate(br: BitReader): number {
  const idx = br.read(4);
  if (idx === 15) return br.read(24);
  return AAC_SAMPLE_RATES[idx] ?? 0;
}

/**
 * Reads an AudioSpecificConfig at the reader's position (also used inside a LATM StreamMuxConfig, where
 * it is not byte-aligned). GASpecificConfig is read through epConfig, then an optional backward-compatible
 * SBR/PS sync extension.
 */
export function readAudioSpecificConfig(br: BitReader): Result<AudioSpecificConfig> {
  const objectType = readObjectType(br);
  let sampleRate = readSampleRate(br);
  const channelConfig = br.read(4);
  let sbr = false;
  let coreType = objectType;
  if (objectType === 5 || objectType === 29) {
    // Explicit hierarchical SBR signalling: the extension rate is the output rate, the core type follows.
    sbr = true;
    const extRate = readSampleRate(br);
    coreType = readObjectType(br);
    if (coreType === 22) br.read(4); // ER BSAC: extensionChannelConfiguration
    if (extRate > 0) sampleRate = extRate;
  }
  let frameLength = 1024;
  // GASpecificConfig (§4.4.1) for the AAC family, read in full so that a LATM StreamMuxConfig, where the
  // ASC is followed directly by more fields, stays aligned. frameLengthFlag selects 960-sample frames.
  if ([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23].includes(coreType)) {
    if (br.read(1) === 1) frameLength = 960;
    if (br.read(1) === 1) br.read(14); // dependsOnCoreCoder → coreCoderDelay
    const extensionFlag = br.read(1);
    if (coreType === 6 || coreType === 20) br.read(3); // layerNr
    if (extensionFlag === 1) {
      if (coreType === 22) br.read(16); // numOfSubFrame, layer_length
      if (coreType === 17 || coreType === 19 || coreType === 20 || coreType === 23) br.read(3); // resilience flags
      br.read(1); // extensionFlag3
    }
    if (coreType >= 17 && coreType <= 27 && coreType !== 18) br.read(2); // epConfig
  }
  // Backward-compatible SBR/PS signalling (§1.6.5.2): syncExtensionType 0x2B7 after the core config.
  // FFmpeg and avenc_aac write it even for plain AAC-LC (sbrPresentFlag = 0), also inside LATM configs.
  let signalledType = objectType;
  if (!sbr && br.bitsLeft >= 16 && br.peek(11) === 0x2b7) {
    br.read(11);
    const extType = readObjectType(br);
    if (extType === 5 && br.read(1) === 1) {
      const extRate = readSampleRate(br);
      sbr = true;
      signalledType = 5;
      if (extRate > 0) sampleRate = extRate;
      if (br.bitsLeft >= 12 && br.peek(11) === 0x548) {
        br.read(11);
        if (br.read(1) === 1) signalledType = 29;
      }
    } else if (extType === 22 && br.read(1) === 1) {
      readSampleRate(br);
      br.read(4);
    }
  }
  if (br.overrun) return err('AudioSpecificConfig truncated');
  if (objectType === 0) return err(`invalid audio object type ${objectType}`);
  if (sampleRate <= 0) return err('reserved sampling frequency index');
  const channels = CHANNELS_BY_CONFIG[channelConfig];
  if (channels === undefined || channels === 0) {
    return err(`unsupported channel configuration ${channelConfig}`);
  }
  if (sbr) frameLength *= 2;
  return ok({ objectType: signalledType, sampleRate, channels, frameLength });
}

export function parseAudioSpecificConfig(buf: Buffer): Result<AudioSpecificConfig> {
  if (buf.length < 2) return err('AudioSpecificConfig shorter than 2 bytes');
  return readAudioSpecificConfig(new BitReader(buf));
}

/** Parses the hex `config=` fmtp value (RFC 3640 / RFC 6416), tolerating spaces and a trailing ';'. */
export function hexToBuffer(hex: string): Buffer | undefined {
  const clean = hex.replace(/[\s;]/g, '');
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(clean)) return undefined;
  return Buffer.from(clean, 'hex');
}

/** The RFC 6381 codec string, e.g. 'mp4a.40.2' for AAC-LC. */
export function aacCodecString(asc: AudioSpecificConfig): string {
  return `mp4a.40.${asc.objectType}`;
}

function sampleRateIndex(rate: number): number {
  const i = AAC_SAMPLE_RATES.indexOf(rate);
  return i;
}

/** Serialises a minimal AudioSpecificConfig (2 bytes for the usual rates), e.g. for an fMP4 esds box. */
export function buildAudioSpecificConfig(asc: AudioSpecificConfig): Buffer {
  const w = new BitWriter();
  const sbr = asc.objectType === 5 || asc.objectType === 29;
  const coreRate = sbr ? asc.sampleRate / 2 : asc.sampleRate;
  const writeRate = (rate: number): void => {
    const idx = sampleRateIndex(rate);
    if (idx >= 0) w.write(idx, 4);
    else {
      w.write(15, 4);
      w.write(rate, 24);
    }
  };
  const writeType = (t: number): void => {
    if (t >= 32) {
      w.write(31, 5);
      w.write(t - 32, 6);
    } else w.write(t, 5);
  };
  writeType(asc.objectType);
  writeRate(coreRate);
  const chIdx = CHANNELS_BY_CONFIG.indexOf(asc.channels);
  w.write(chIdx > 0 ? chIdx : 1, 4);
  if (sbr) {
    writeRate(asc.sampleRate);
    writeType(2);
  }
  const coreFrame = sbr ? asc.frameLength / 2 : asc.frameLength;
  w.write(coreFrame === 960 ? 1 : 0, 1); // frameLengthFlag
  w.write(0, 1); // dependsOnCoreCoder
  w.write(0, 1); // extensionFlag
  return w.finish();
}

/** ADTS header length: 7 bytes, or 9 with the CRC (protection_absent = 0). */
export function parseAdtsHeader(buf: Buffer): Result<{ headerLength: number; frameLength: number; asc: AudioSpecificConfig }> {
  if (buf.length < 7) return err('ADTS header truncated');
  if (buf[0] !== 0xff || (buf[1]! & 0xf6) !== 0xf0) return err('no ADTS syncword'); // sync 0xFFF, layer 00
  const protectionAbsent = buf[1]! & 1;
  const profile = buf[2]! >> 6;
  const sfIndex = (buf[2]! >> 2) & 0x0f;
  const channelConfig = ((buf[2]! & 1) << 2) | (buf[3]! >> 6);
  const frameLength = ((buf[3]! & 3) << 11) | (buf[4]! << 3) | (buf[5]! >> 5);
  const headerLength = protectionAbsent ? 7 : 9;
  const sampleRate = AAC_SAMPLE_RATES[sfIndex];
  if (sampleRate === undefined) return err('ADTS reserved sampling frequency index');
  const channels = CHANNELS_BY_CONFIG[channelConfig];
  if (!channels) return err('ADTS channel configuration 0 (PCE) unsupported');
  if (frameLength < headerLength) return err('ADTS frame_length shorter than its header');
  return ok({ headerLength, frameLength, asc: { objectType: profile + 1, sampleRate, channels, frameLength: 1024 } });
}

/** A 7-byte ADTS header (no CRC) for one raw AU of `payloadLength` bytes. */
export function buildAdtsHeader(asc: AudioSpecificConfig, payloadLength: number): Buffer {
  // ADTS only carries the core profile (2 bits) and rate: HE-AAC is signalled implicitly as AAC-LC at the core rate.
  const sbr = asc.objectType === 5 || asc.objectType === 29;
  const profile = sbr ? 1 : Math.min(Math.max(asc.objectType - 1, 0), 3);
  const rate = sbr ? asc.sampleRate / 2 : asc.sampleRate;
  let sf = sampleRateIndex(rate);
  if (sf < 0) sf = 4; // no index for this rate: ADTS can't express it; 44.1 kHz is the least-bad guess
  const chIdx = CHANNELS_BY_CONFIG.indexOf(asc.channels);
  const ch = chIdx > 0 ? chIdx : 1;
  const len = Math.min(7 + payloadLength, 0x1fff);
  const h = Buffer.alloc(7);
  h[0] = 0xff;
  h[1] = 0xf1; // MPEG-4, layer 0, protection_absent
  h[2] = (profile << 6) | (sf << 2) | (ch >> 2);
  h[3] = ((ch & 3) << 6) | (len >> 11);
  h[4] = (len >> 3) & 0xff;
  h[5] = ((len & 7) << 5) | 0x1f; // buffer fullness 0x7FF (VBR)
  h[6] = 0xfc; // fullness low bits, number_of_raw_data_blocks_in_frame = 0
  return h;
}

/**
 * Splits an ADTS stream (an .aac file) into raw AUs. Bytes that are not a valid ADTS frame are skipped
 * up to the next syncword; a truncated final frame is dropped.
 */
export function splitAdts(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 7 <= buf.length) {
    const h = parseAdtsHeader(buf.subarray(off));
    if (!h.ok) {
      off++;
      continue;
    }
    const end = off + h.value.frameLength;
    if (end > buf.length) break;
    out.push(buf.subarray(off + h.value.headerLength, end));
    off = end;
  }
  return out;
}

/**
 * If `au` is exactly one ADTS frame (header + payload), returns the payload and the header's config.
 * Used to survive cameras that wrap each RTP AU in ADTS.
 */
export function stripAdts(au: Buffer): { payload: Buffer; asc: AudioSpecificConfig } | undefined {
  if (au.length < 8 || au[0] !== 0xff || (au[1]! & 0xf6) !== 0xf0) return undefined;
  const h = parseAdtsHeader(au);
  if (!h.ok || h.value.frameLength !== au.length || h.value.headerLength >= au.length) return undefined;
  return { payload: au.subarray(h.value.headerLength), asc: h.value.asc };
}
