import type { CodecParams, Depacketizer, DepacketizerStats, Frame, RtpPacketIn } from '../types.ts';
import type { DepacketizerInit } from '../aac/fmtp.ts';

export type { DepacketizerInit } from '../aac/fmtp.ts';

/** Largest payload accepted; a UDP datagram cannot carry more, so larger is corruption. */
const G711_MAX_PAYLOAD = 64 * 1024;

/**
 * RFC 3551 §4.5.14 G.711 (PCMU/PCMA): one byte per sample per channel, samples interleaved.
 * Each packet becomes one Frame; its duration comes from the payload length, never from an assumed
 * ptime, because cameras send 20, 40 or 160 ms packets (QUIRKS Q42).
 */
export class G711Depacketizer implements Depacketizer {
  readonly codec: 'PCMU' | 'PCMA';
  readonly clockRate: number;
  readonly channels: number;
  readonly stats: DepacketizerStats = { framesOut: 0, framesDropped: 0, errors: 0 };
  /** Samples (per channel) emitted so far. */
  samplesOut = 0;

  constructor(codec: 'PCMU' | 'PCMA', init: DepacketizerInit) {
    this.codec = codec === 'PCMA' ? 'PCMA' : 'PCMU';
    // PCMA/16000 and PCMA/8000/2 exist in the field (gortsplib@0b6fda2a, #497): trust the rtpmap.
    this.clockRate = init.clockRate > 0 ? init.clockRate : 8000;
    this.channels = init.channels !== undefined && init.channels >= 1 && init.channels <= 8 ? Math.floor(init.channels) : 1;
  }

  params(): CodecParams {
    return { codecString: this.codec === 'PCMA' ? 'alaw' : 'ulaw', sampleRate: this.clockRate, channels: this.channels };
  }

  /** Samples per channel carried by a payload of `bytes` bytes. */
  samplesIn(bytes: number): number {
    return Math.floor(bytes / this.channels);
  }

  push(pkt: RtpPacketIn, _lostBefore: boolean): Frame[] {
    try {
      const n = pkt.payload.length;
      if (n === 0 || n > G711_MAX_PAYLOAD || n % this.channels !== 0) {
        this.stats.errors++;
        this.stats.framesDropped++;
        this.stats.lastError = `G.711 payload of ${n} bytes is not a whole number of ${this.channels}-channel samples`;
        return [];
      }
      this.stats.framesOut++;
      this.samplesOut += this.samplesIn(n);
      return [{ timestamp: pkt.timestamp, keyframe: true, data: [Buffer.from(pkt.payload)] }];
    } catch (e) {
      this.stats.errors++;
      this.stats.lastError = `internal: ${(e as Error).message}`;
      return [];
    }
  }
}
