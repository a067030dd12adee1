import type { CodecParams, Depacketizer, DepacketizerStats, Frame, RtpPacketIn } from '../types.ts';
import { normalizeFmtp, type DepacketizerInit } from '../aac/fmtp.ts';

export type { DepacketizerInit } from '../aac/fmtp.ts';

/** RFC 7587 §4.1: the Opus RTP clock is 48 kHz whatever the rtpmap claims (QUIRKS Q43). */
export const OPUS_CLOCK_RATE = 48000;
/** RFC 6716 §3.2.5: at most 120 ms of audio per packet, and 1275 bytes per frame × 48 frames. */
const OPUS_MAX_PACKET_SAMPLES = 5760;
const OPUS_MAX_PACKET_BYTES = 1275 * 48 + 2;

/** Frame duration in 48 kHz samples for each TOC configuration number (RFC 6716 Table 2). */
function frameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3]!; // SILK-only: 10/20/40/60 ms
  if (config < 16) return (config & 1) === 0 ? 480 : 960; // Hybrid: 10/20 ms
  return [120, 240, 480, 960][config & 3]!; // CELT-only: 2.5/5/10/20 ms
}

/** Reads a frame length (RFC 6716 §3.2.1: one byte, or two when the first is 252..255). */
function readFrameLength(p: Buffer, off: number): { len: number; bytes: number } | undefined {
  if (off >= p.length) return undefined;
  const b0 = p[off]!;
  if (b0 < 252) return { len: b0, bytes: 1 };
  if (off + 1 >= p.length) return undefined;
  return { len: p[off + 1]! * 4 + b0, bytes: 2 };
}

/**
 * The duration of an Opus packet in samples at 48 kHz, from its TOC byte and frame count
 * (RFC 6716 §3.1–3.2); 0 when the packet is malformed.
 */
export function opusPacketDuration(packet: Buffer): number {
  if (packet.length < 1 || packet.length > OPUS_MAX_PACKET_BYTES) return 0;
  const toc = packet[0]!;
  const per = frameSamples(toc >> 3);
  const code = toc & 3;
  const body = packet.length - 1;
  switch (code) {
    case 0:
      return per;
    case 1: // two CBR frames: the remainder must split evenly (R3)
      return body % 2 === 0 ? 2 * per : 0;
    case 2: {
      const fl = readFrameLength(packet, 1);
      if (!fl || fl.len > body - fl.bytes) return 0; // R4
      return 2 * per;
    }
    default: {
      if (packet.length < 2) return 0; // R6: code 3 needs the frame-count byte
      const count = packet[1]! & 0x3f;
      if (count === 0 || count * per > OPUS_MAX_PACKET_SAMPLES) return 0; // R5
      return count * per;
    }
  }
}

/**
 * RFC 7587 Opus depacketizer: one Opus packet per RTP packet, passed through as one Frame.
 * Channels come from `sprop-stereo` and the TOC stereo flag, not from the rtpmap, which RFC 7587
 * fixes at `/2` and some cameras write as `OPUS/48000/1` (go2rtc#1506, QUIRKS Q43).
 */
export class OpusDepacketizer implements Depacketizer {
  readonly codec = 'OPUS' as const;
  readonly clockRate = OPUS_CLOCK_RATE;
  readonly stats: DepacketizerStats = { framesOut: 0, framesDropped: 0, errors: 0 };
  private channels: number;
  /** Samples at 48 kHz emitted so far. */
  samplesOut = 0;

  constructor(init: DepacketizerInit) {
    const f = normalizeFmtp(init.fmtp);
    this.channels = f.get('sprop-stereo') === '1' ? 2 : 1;
    if (init.clockRate !== OPUS_CLOCK_RATE) {
      // Cameras that claim OPUS/16000 still stamp in 48 kHz units (QUIRKS Q43): keep 48 kHz, but say so.
      this.stats.lastError = `rtpmap clock ${init.clockRate} ignored: Opus RTP clock is always 48000`;
    }
  }

  params(): CodecParams {
    return { codecString: 'opus', sampleRate: OPUS_CLOCK_RATE, channels: this.channels };
  }

  push(pkt: RtpPacketIn, _lostBefore: boolean): Frame[] {
    try {
      const dur = opusPacketDuration(pkt.payload);
      if (dur === 0) {
        this.stats.errors++;
        this.stats.framesDropped++;
        this.stats.lastError = `malformed Opus packet (${pkt.payload.length} bytes)`;
        return [];
      }
      // TOC bit 2 is the stereo flag (RFC 6716 §3.1); once a stereo frame is seen the track is stereo.
      if ((pkt.payload[0]! & 0x04) !== 0) this.channels = 2;
      this.stats.framesOut++;
      this.samplesOut += dur;
      return [{ timestamp: pkt.timestamp, keyframe: true, data: [Buffer.from(pkt.payload)] }];
    } catch (e) {
      this.stats.errors++;
      this.stats.lastError = `internal: ${(e as Error).message}`;
      return [];
    }
  }
}
