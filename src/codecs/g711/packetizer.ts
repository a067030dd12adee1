import type { RtpPayload } from '../payload.ts';
import { DEFAULT_RTP_PAYLOAD } from '../payload.ts';

/**
 * RFC 3551 §4.5.14 G.711 packetizer: the samples go as they are. A frame longer than the payload
 * budget is split on sample boundaries, each piece stamped with the time of its first sample.
 */
export class G711Packetizer {
  private readonly mtu: number;
  private readonly channels: number;

  constructor(opts: { mtu?: number; channels?: number } = {}) {
    this.channels = Math.max(1, Math.floor(opts.channels ?? 1));
    const mtu = Math.max(opts.mtu ?? DEFAULT_RTP_PAYLOAD, 16);
    this.mtu = mtu - (mtu % this.channels);
  }

  packetize(data: Buffer[]): RtpPayload[] {
    const out: RtpPayload[] = [];
    let samples = 0;
    for (const frame of data) {
      for (let off = 0; off < frame.length; off += this.mtu) {
        const part = frame.subarray(off, off + this.mtu);
        const tsDelta = samples + off / this.channels;
        out.push({ parts: [part], marker: false, ...(tsDelta ? { tsDelta } : {}) });
      }
      samples += Math.floor(frame.length / this.channels);
    }
    return out;
  }
}
