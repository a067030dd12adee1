/**
 * What the RTP packetizers of the restream produce: payloads without the 12-byte RTP header. The
 * sender writes a header per reader (its own SSRC, sequence numbers and timestamp offset), so one
 * packetization of an access unit serves every reader of a stream.
 */
export interface RtpPayload {
  /** The payload, in parts (written back to back after the RTP header; no copy needed here). */
  parts: Buffer[];
  /** RTP marker bit (RFC 3550 §5.1): last packet of a video frame. */
  marker: boolean;
  /** Added to the access unit's RTP timestamp for this packet (G.711 split across packets). */
  tsDelta?: number;
}

export function payloadSize(p: RtpPayload): number {
  let n = 0;
  for (const b of p.parts) n += b.length;
  return n;
}

/** Default most RTP payload bytes per packet: fits a 1500-byte Ethernet MTU with IP/UDP/RTP headers. */
export const DEFAULT_RTP_PAYLOAD = 1400;

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
 * What the H.264 and H.265 packetizers share: sequence numbering and building packets from the
 * header-less payloads that each codec's `payloads()` cuts (aggregation, single NAL, fragments).
 */
export abstract class NalPacketizer {
  private seq: number;
  protected readonly mtu: number;

  constructor(private readonly opts: PacketizerOptions) {
    this.mtu = Math.max(opts.mtu ?? 1200, 16);
    this.seq = (opts.initialSequence ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
  }

  /** Sequence number the next packet will carry. */
  get nextSequence(): number {
    return this.seq;
  }

  packetize(nalus: Buffer[], timestamp: number): Buffer[] {
    return this.payloads(nalus).map((p) => {
      const pkt = rtpPacket(this.opts.payloadType, this.seq, timestamp, this.opts.ssrc, p.marker, p.parts);
      this.seq = (this.seq + 1) & 0xffff;
      return pkt;
    });
  }

  /**
   * The packets without RTP headers, as parts that point into the NAL units (no copy): the
   * restream writes its own headers, and packetizing a 20 KB frame this way costs a fraction of
   * building the packets.
   */
  abstract payloads(nalus: Buffer[]): RtpPayload[];
}
