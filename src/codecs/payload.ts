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
