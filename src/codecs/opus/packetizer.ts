import type { RtpPayload } from '../payload.ts';
import { opusPacketDuration } from './index.ts';

/**
 * RFC 7587 §4.2 Opus packetizer: exactly one Opus packet per RTP packet, never fragmented (an Opus
 * packet that doesn't fit the path MTU must be made smaller by the encoder, not split).
 */
export class OpusPacketizer {
  packetize(data: Buffer[]): RtpPayload[] {
    const out: RtpPayload[] = [];
    let ts = 0;
    for (const p of data) {
      if (p.length === 0) continue;
      out.push({ parts: [p], marker: false, ...(ts ? { tsDelta: ts } : {}) });
      ts += opusPacketDuration(p) || 960;
    }
    return out;
  }
}
