import type { RtpPayload } from '../payload.ts';
import { DEFAULT_RTP_PAYLOAD } from '../payload.ts';

/** RFC 3640 AAC-hbr: 13-bit AU-size, 3-bit AU-Index / AU-Index-delta. */
export const AAC_HBR_FMTP = { streamtype: '5', 'profile-level-id': '1', mode: 'AAC-hbr', sizelength: '13', indexlength: '3', indexdeltalength: '3' } as const;

/** 13 bits of AU-size: the largest AU the AAC-hbr header can describe. */
const MAX_AU = 8191;

/**
 * RFC 3640 (mpeg4-generic, AAC-hbr) packetizer: one AU per packet, preceded by AU-headers-length (16)
 * and one 16-bit AU-header. An AU larger than the payload budget is fragmented (§3.2.3): every
 * fragment repeats the AU-header with the full AU size and the marker is set on the last one only.
 */
export class Mpeg4GenericPacketizer {
  private readonly mtu: number;
  /** AUs dropped because they are larger than AAC-hbr can describe. */
  dropped = 0;

  constructor(opts: { mtu?: number } = {}) {
    this.mtu = Math.max(opts.mtu ?? DEFAULT_RTP_PAYLOAD, 16);
  }

  /** `data`: raw AAC AUs (no ADTS); each becomes its own packet(s), consecutive AUs 1024 samples apart. */
  packetize(data: Buffer[], frameSamples = 1024): RtpPayload[] {
    const out: RtpPayload[] = [];
    data.forEach((au, i) => {
      if (au.length === 0) return;
      if (au.length > MAX_AU) {
        this.dropped++;
        return;
      }
      const header = Buffer.alloc(4);
      header.writeUInt16BE(16, 0); // AU-headers-length in bits: one 16-bit AU-header
      header.writeUInt16BE((au.length << 3) | 0, 2); // AU-size (13) | AU-Index (3) = 0
      const budget = this.mtu - 4;
      const tsDelta = i * frameSamples;
      for (let off = 0; off < au.length; off += budget) {
        const last = off + budget >= au.length;
        out.push({ parts: [header, au.subarray(off, off + budget)], marker: last, ...(tsDelta ? { tsDelta } : {}) });
      }
    });
    return out;
  }
}
