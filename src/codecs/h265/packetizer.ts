import { NalPacketizer, type RtpPayload } from '../payload.ts';

/**
 * H.265 RTP packetizer (RFC 7798, no DONL): consecutive NAL units that fit together go in one
 * Aggregation Packet, a NAL unit that fits alone as a single NAL unit packet, larger ones as FUs.
 * The marker bit is set on the last packet of the access unit.
 */
export class H265Packetizer extends NalPacketizer {
  override payloads(nalus: Buffer[]): RtpPayload[] {
    const payloads: Buffer[][] = [];
    const list = nalus.filter((n) => n.length >= 2);
    let i = 0;
    while (i < list.length) {
      let size = 2;
      let j = i;
      while (j < list.length && size + 2 + list[j].length <= this.mtu) {
        size += 2 + list[j].length;
        j++;
      }
      if (j - i >= 2) {
        const group = list.slice(i, j);
        // AP PayloadHdr: F = OR of F bits, LayerId and TID = lowest of the aggregated units (4.4.2).
        let f = 0;
        let layerId = 63;
        let tid = 7;
        for (const n of group) {
          f |= n[0] & 0x80;
          layerId = Math.min(layerId, ((n[0] & 1) << 5) | (n[1] >> 3));
          tid = Math.min(tid, n[1] & 7);
        }
        const parts: Buffer[] = [Buffer.from([f | (48 << 1) | (layerId >> 5), ((layerId & 0x1f) << 3) | tid])];
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
      const hdr0 = (nal[0] & 0x81) | (49 << 1);
      const type = (nal[0] >> 1) & 0x3f;
      const chunk = this.mtu - 3;
      for (let off = 2; off < nal.length; off += chunk) {
        const s = off === 2 ? 0x80 : 0;
        const e = off + chunk >= nal.length ? 0x40 : 0;
        payloads.push([Buffer.from([hdr0, nal[1], s | e | type]), nal.subarray(off, off + chunk)]);
      }
    }
    return payloads.map((parts, k) => ({ parts, marker: k === payloads.length - 1 }));
  }
}
