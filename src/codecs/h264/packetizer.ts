import { NalPacketizer, type RtpPayload } from '../payload.ts';

export { rtpPacket, type PacketizerOptions } from '../payload.ts';

/**
 * H.264 RTP packetizer (RFC 6184, packetization-mode=1): consecutive NAL units that fit together go
 * in one STAP-A, a NAL unit that fits alone goes as a single-NAL packet, larger ones as FU-A.
 * The marker bit is set on the last packet of the access unit.
 */
export class H264Packetizer extends NalPacketizer {
  override payloads(nalus: Buffer[]): RtpPayload[] {
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
