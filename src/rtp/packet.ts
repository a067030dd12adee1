/**
 * RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).
 * Parsing never throws and never copies the payload: `payload` is a subarray of the input.
 */
import { ok, err } from '../util/result.ts';
import type { Result } from '../util/result.ts';

export interface RtpPacket {
  version: number;
  padding: boolean;
  extension: boolean;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  /** 32-bit RTP timestamp, as on the wire. */
  timestamp: number;
  ssrc: number;
  csrc: number[];
  /** "defined by profile" field of the header extension (RFC 3550 §5.3.1). */
  extensionProfile?: number;
  /** Header extension body (without the 4-byte profile/length word); a subarray. */
  extensionData?: Buffer;
  /** Subarray of the input, no copy; padding removed. */
  payload: Buffer;
}

export const RTP_HEADER_SIZE = 12;

export function parseRtpPacket(buf: Buffer): Result<RtpPacket> {
  if (buf.length < RTP_HEADER_SIZE) return err(`RTP packet too short (${buf.length} bytes)`);
  const b0 = buf[0];
  const version = b0 >> 6;
  if (version !== 2) return err(`RTP version ${version} (expected 2)`);
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  const b1 = buf[1];
  const marker = (b1 & 0x80) !== 0;
  const payloadType = b1 & 0x7f;
  const sequenceNumber = buf.readUInt16BE(2);
  const timestamp = buf.readUInt32BE(4);
  const ssrc = buf.readUInt32BE(8);

  let offset = RTP_HEADER_SIZE;
  if (buf.length < offset + csrcCount * 4) return err(`RTP CSRC list (${csrcCount}) exceeds packet`);
  const csrc: number[] = [];
  for (let i = 0; i < csrcCount; i++) csrc.push(buf.readUInt32BE(offset + i * 4));
  offset += csrcCount * 4;

  let end = buf.length;
  if (padding) {
    // The last octet counts the padding octets, itself included (RFC 3550 §5.1 P bit).
    const padLen = buf[buf.length - 1];
    if (padLen === 0) return err('RTP padding length 0');
    if (padLen > buf.length - offset) return err(`RTP padding length ${padLen} exceeds packet`);
    end = buf.length - padLen;
  }

  let extensionProfile: number | undefined;
  let extensionData: Buffer | undefined;
  if (extension) {
    if (end - offset < 4) return err('RTP header extension truncated');
    extensionProfile = buf.readUInt16BE(offset);
    const words = buf.readUInt16BE(offset + 2);
    offset += 4;
    if (end - offset < words * 4) return err(`RTP header extension length ${words} words exceeds packet`);
    extensionData = buf.subarray(offset, offset + words * 4);
    offset += words * 4;
  }

  const pkt: RtpPacket = {
    version,
    padding,
    extension,
    marker,
    payloadType,
    sequenceNumber,
    timestamp,
    ssrc,
    csrc,
    payload: buf.subarray(offset, end),
  };
  if (extension) {
    pkt.extensionProfile = extensionProfile;
    pkt.extensionData = extensionData;
  }
  return ok(pkt);
}

export type RtpPacketInit = Omit<RtpPacket, 'version' | 'padding' | 'extension' | 'csrc'> & { csrc?: number[] };

/**
 * Serialize an RTP packet (no padding). A header extension is written when `extensionProfile` or
 * `extensionData` is set; its body is zero-padded to a 32-bit boundary as RFC 3550 §5.3.1 requires.
 */
export function serializeRtpPacket(p: RtpPacketInit): Buffer {
  const csrc = (p.csrc ?? []).slice(0, 15);
  const hasExt = p.extensionProfile !== undefined || p.extensionData !== undefined;
  const extBody = p.extensionData ?? Buffer.alloc(0);
  const extWords = Math.ceil(extBody.length / 4);
  const extSize = hasExt ? 4 + extWords * 4 : 0;
  const headerSize = RTP_HEADER_SIZE + csrc.length * 4 + extSize;
  const out = Buffer.alloc(headerSize + p.payload.length);
  out[0] = 0x80 | (hasExt ? 0x10 : 0) | csrc.length;
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  out.writeUInt16BE(p.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(p.timestamp >>> 0, 4);
  out.writeUInt32BE(p.ssrc >>> 0, 8);
  let offset = RTP_HEADER_SIZE;
  for (const c of csrc) {
    out.writeUInt32BE(c >>> 0, offset);
    offset += 4;
  }
  if (hasExt) {
    out.writeUInt16BE((p.extensionProfile ?? 0) & 0xffff, offset);
    out.writeUInt16BE(extWords, offset + 2);
    extBody.copy(out, offset + 4);
    offset += 4 + extWords * 4;
  }
  p.payload.copy(out, offset);
  return out;
}
