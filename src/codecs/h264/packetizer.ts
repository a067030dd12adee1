import type { RtpPayload } from '../payload.ts';

/** Serializes a 12-byte RTP header (RFC 3550 5.1, no CSRC, no extension) plus payload. */
export function rtpPacket(pt: number, seq: number, ts: number, ssrc: number, marker: boolean, payload: Buffer[]): Buffer {
  let len = 12;
  for (const p of payload) len += p.length;
  const b = Buffer.allocUnsafe(len);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  let o = 12;
  for (const p of payload) {
    p.copy(b, o);
    o += p.length;
  }
  return b;
}

export interface PacketizerOptions {
  payloadType: number;
  ssrc: number;
  /** Maximum RTP payload bytes (default 1200). */
  mtu?: number;
  initialSequence?: number;
}

/**
 * H.264 RTP packetizer (RFC 6184, packetization-mode=1): consecutive NAL units that fit together go
 * in one STAP-A, a NAL unit that fits alone goes as a single-NAL packet, larger ones as FU-A.
 * The marker bit is set on the last packet of the access unit.
 */
export class H264Packetizer {
  private seq: number;
  private readonly mtu: number;
  constructor(private readonly opts: PacketizerOptions) {
    this.mtu = Math.max(opts.mtu ?? 1200, 16);
    this.seq = (opts.initialSequence ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
  }

  /** Sequence number the next packet will carry. */
  get nextSequence(): number {
    return this.seq;
  }

  packetize(nalus: Buffer[], timestamp: number): Buffer[] {
    const payloads = this.payloads(nalus);
    return payloads.map((p) => {
      const pkt = rtpPacket(this.opts.payloadType, this.seq, timestamp, this.opts.ssrc, p.marker, p.parts);
      this.seq = (this.seq + 1) & 0xffff;
      return pkt;
    });
  }

  /**
   * The same packets without RTP headers, as parts that point into the NAL units (no copy): the
   * restream writes its own headers, and packetizing a 20 KB frame this way costs a fraction of
   * building the packets.
   */
  payloads(nalus: Buffer[]): RtpPayload[] {
    const payloads: Buffer[][] = [];
    const list = nalus.filter((n) => n.length > 0);
    let i = 0;
    while (i < list.length) {
      // Greedy STAP-A: 1 byte header + (2-byte size + NAL) per unit.
      let size = 1;
      let j = i;
      while (j < list.length && size + 2 + list[j].length <= this.mtu) {
        size += 2 + list[j].length;
        j++;
      }
      if (j - i >= 2) {
        const group = list.slice(i, j);
        let nri = 0;
        let f = 0;
        for (const n of group) {
          nri = Math.max(nri, n[0] & 0x60);
          f |= n[0] & 0x80;
        }
        const parts: Buffer[] = [Buffer.from([f | nri | 24])];
        for (const n of group) {
          const len = Buffer.allocUnsafe(2);
          len.writeUInt16BE(n.length, 0);
          parts.push(len, n);
        }
        payloads.push(parts);
        i = j;
        continue;
      }
      const nal = list[i++];
      if (nal.length <= this.mtu) {
        payloads.push([nal]);
        continue;
      }
      // FU-A: indicator (F, NRI, 28) + header (S, E, type), then the NAL body without its header.
      const indicator = (nal[0] & 0xe0) | 28;
      const type = nal[0] & 0x1f;
      const chunk = this.mtu - 2;
      for (let off = 1; off < nal.length; off += chunk) {
        const startBit = off === 1 ? 0x80 : 0;
        const endBit = off + chunk >= nal.length ? 0x40 : 0;
        payloads.push([Buffer.from([indicator, startBit | endBit | type]), nal.subarray(off, off + chunk)]);
      }
    }
    return payloads.map((parts, k) => ({ parts, marker: k === payloads.length - 1 }));
  }
}
