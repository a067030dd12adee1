/**
 * RTCP compound packets (RFC 3550 §6): SR, RR, SDES, BYE parsed; APP and feedback/XR recognised and
 * skipped. Tolerant: a malformed sub-packet is skipped and the others are kept; nothing throws.
 */

export interface ReportBlock {
  ssrc: number;
  /** Fraction lost since the previous report, 0..255 (units of 1/256). */
  fractionLost: number;
  /** Cumulative number of packets lost, signed 24-bit. */
  cumulativeLost: number;
  /** Extended highest sequence number received. */
  highestSeq: number;
  /** Interarrival jitter, RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received. */
  lsr: number;
  /** Delay since that SR, units of 1/65536 s. */
  dlsr: number;
}

export type RtcpPacket =
  | {
      type: 'SR';
      ssrc: number;
      /** 64-bit NTP timestamp. */
      ntpTime: bigint;
      /** The NTP timestamp as Unix milliseconds. */
      ntpMs: number;
      rtpTime: number;
      packetCount: number;
      octetCount: number;
      reports: ReportBlock[];
    }
  | { type: 'RR'; ssrc: number; reports: ReportBlock[] }
  | { type: 'SDES'; chunks: { ssrc: number; items: { type: number; text: string }[] }[] }
  | { type: 'BYE'; ssrcs: number[]; reason?: string }
  | { type: 'other'; packetType: number };

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;
export const SDES_CNAME = 1;

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2208988800n;
const REPORT_BLOCK_SIZE = 24;

export function ntpToUnixMs(ntp: bigint): number {
  const seconds = ntp >> 32n;
  const fraction = ntp & 0xffffffffn;
  return Number(seconds - NTP_UNIX_OFFSET_S) * 1000 + (Number(fraction) * 1000) / 2 ** 32;
}

export function unixMsToNtp(ms: number): bigint {
  if (!Number.isFinite(ms)) return 0n;
  const wholeSeconds = Math.floor(ms / 1000);
  const remainderMs = ms - wholeSeconds * 1000;
  let fraction = Math.round((remainderMs / 1000) * 2 ** 32);
  let seconds = BigInt(wholeSeconds) + NTP_UNIX_OFFSET_S;
  if (fraction >= 2 ** 32) {
    fraction -= 2 ** 32;
    seconds += 1n;
  }
  return ((seconds & 0xffffffffn) << 32n) | BigInt(fraction);
}

function readReportBlock(buf: Buffer, off: number): ReportBlock {
  // cumulative lost is a signed 24-bit value (RFC 3550 §6.4.1)
  let cumulativeLost = buf.readUIntBE(off + 5, 3);
  if (cumulativeLost & 0x800000) cumulativeLost -= 0x1000000;
  return {
    ssrc: buf.readUInt32BE(off),
    fractionLost: buf[off + 4],
    cumulativeLost,
    highestSeq: buf.readUInt32BE(off + 8),
    jitter: buf.readUInt32BE(off + 12),
    lsr: buf.readUInt32BE(off + 16),
    dlsr: buf.readUInt32BE(off + 20),
  };
}

function writeReportBlock(out: Buffer, off: number, r: ReportBlock): void {
  out.writeUInt32BE(r.ssrc >>> 0, off);
  out[off + 4] = Math.max(0, Math.min(255, Math.floor(r.fractionLost)));
  const lost = Math.max(-0x800000, Math.min(0x7fffff, Math.trunc(r.cumulativeLost)));
  out.writeUIntBE(lost < 0 ? lost + 0x1000000 : lost, off + 5, 3);
  out.writeUInt32BE(r.highestSeq >>> 0, off + 8);
  out.writeUInt32BE(Math.max(0, Math.floor(r.jitter)) >>> 0, off + 12);
  out.writeUInt32BE(r.lsr >>> 0, off + 16);
  out.writeUInt32BE(Math.max(0, Math.floor(r.dlsr)) >>> 0, off + 20);
}

type SubResult = { ok: true; packet: RtcpPacket } | { ok: false; error: string };

/** `body` is the sub-packet after its 4-byte header, with any padding already removed. */
function parseSubPacket(pt: number, count: number, body: Buffer): SubResult {
  switch (pt) {
    case RTCP_SR: {
      if (body.length < 24 + count * REPORT_BLOCK_SIZE) return { ok: false, error: `SR too short for ${count} report blocks` };
      const ntpTime = body.readBigUInt64BE(4);
      const reports: ReportBlock[] = [];
      for (let i = 0; i < count; i++) reports.push(readReportBlock(body, 24 + i * REPORT_BLOCK_SIZE));
      return {
        ok: true,
        packet: {
          type: 'SR',
          ssrc: body.readUInt32BE(0),
          ntpTime,
          ntpMs: ntpToUnixMs(ntpTime),
          rtpTime: body.readUInt32BE(12),
          packetCount: body.readUInt32BE(16),
          octetCount: body.readUInt32BE(20),
          reports,
        },
      };
    }
    case RTCP_RR: {
      if (body.length < 4 + count * REPORT_BLOCK_SIZE) return { ok: false, error: `RR too short for ${count} report blocks` };
      const reports: ReportBlock[] = [];
      for (let i = 0; i < count; i++) reports.push(readReportBlock(body, 4 + i * REPORT_BLOCK_SIZE));
      return { ok: true, packet: { type: 'RR', ssrc: body.readUInt32BE(0), reports } };
    }
    case RTCP_SDES: {
      const chunks: { ssrc: number; items: { type: number; text: string }[] }[] = [];
      let off = 0;
      for (let c = 0; c < count; c++) {
        if (body.length - off < 4) return { ok: false, error: 'SDES chunk truncated' };
        const ssrc = body.readUInt32BE(off);
        off += 4;
        const items: { type: number; text: string }[] = [];
        for (;;) {
          if (off >= body.length) return { ok: false, error: 'SDES items not terminated' };
          const itemType = body[off];
          if (itemType === 0) {
            // END item, then zero padding to the next 32-bit boundary
            off = (off + 4) & ~3;
            break;
          }
          if (body.length - off < 2) return { ok: false, error: 'SDES item truncated' };
          const len = body[off + 1];
          if (body.length - off - 2 < len) return { ok: false, error: 'SDES item length exceeds packet' };
          items.push({ type: itemType, text: body.toString('utf8', off + 2, off + 2 + len) });
          off += 2 + len;
        }
        chunks.push({ ssrc, items });
      }
      return { ok: true, packet: { type: 'SDES', chunks } };
    }
    case RTCP_BYE: {
      if (body.length < count * 4) return { ok: false, error: `BYE too short for ${count} SSRCs` };
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++) ssrcs.push(body.readUInt32BE(i * 4));
      const packet: RtcpPacket = { type: 'BYE', ssrcs };
      const off = count * 4;
      if (body.length > off) {
        const len = body[off];
        if (len > 0) {
          if (body.length - off - 1 < len) return { ok: false, error: 'BYE reason exceeds packet' };
          packet.reason = body.toString('utf8', off + 1, off + 1 + len);
        }
      }
      return { ok: true, packet };
    }
    default:
      // APP (204), RTPFB/PSFB (205/206), XR (207) and anything else: recognised, skipped.
      return { ok: true, packet: { type: 'other', packetType: pt } };
  }
}

/** Parse an RTCP compound packet. Never throws; problems are listed in `errors`. */
export function parseRtcp(buf: Buffer): { packets: RtcpPacket[]; errors: string[] } {
  const packets: RtcpPacket[] = [];
  const errors: string[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 4) {
      errors.push(`trailing ${buf.length - off} bytes`);
      break;
    }
    const b0 = buf[off];
    if (b0 >> 6 !== 2) {
      // Without a valid header the length field cannot be trusted, so the rest is unreadable.
      errors.push(`RTCP version ${b0 >> 6} at offset ${off}`);
      break;
    }
    const padding = (b0 & 0x20) !== 0;
    const count = b0 & 0x1f;
    const pt = buf[off + 1];
    const size = (buf.readUInt16BE(off + 2) + 1) * 4;
    if (size > buf.length - off) {
      errors.push(`RTCP packet type ${pt} length ${size} exceeds remaining ${buf.length - off} bytes`);
      break;
    }
    let body = buf.subarray(off + 4, off + size);
    off += size;
    if (padding) {
      const padLen = body.length > 0 ? body[body.length - 1] : 0;
      if (padLen === 0 || padLen > body.length) {
        errors.push(`RTCP packet type ${pt}: bad padding length ${padLen}`);
        continue;
      }
      body = body.subarray(0, body.length - padLen);
    }
    const r = parseSubPacket(pt, count, body);
    if (r.ok) packets.push(r.packet);
    else errors.push(r.error);
  }
  return { packets, errors };
}

function header(count: number, pt: number, totalBytes: number): Buffer {
  const h = Buffer.alloc(4);
  h[0] = 0x80 | (count & 0x1f);
  h[1] = pt;
  h.writeUInt16BE(totalBytes / 4 - 1, 2);
  return h;
}

/** SDES packet with one chunk holding a CNAME item (RFC 3550 §6.5.1). */
export function buildSdesCname(ssrc: number, cname: string): Buffer {
  let text = Buffer.from(cname, 'utf8');
  if (text.length > 255) text = text.subarray(0, 255);
  // chunk: SSRC + item (type, len, text) + END, padded to 32 bits (at least one zero octet)
  const chunkLen = (4 + 2 + text.length + 1 + 3) & ~3;
  const out = Buffer.alloc(4 + chunkLen);
  header(1, RTCP_SDES, out.length).copy(out, 0);
  out.writeUInt32BE(ssrc >>> 0, 4);
  out[8] = SDES_CNAME;
  out[9] = text.length;
  text.copy(out, 10);
  return out;
}

/** A compound RR + SDES CNAME. At most 31 report blocks fit in one RR (5-bit count). */
export function buildReceiverReport(senderSsrc: number, reports: ReportBlock[], cname = 'camgate'): Buffer {
  const blocks = reports.slice(0, 31);
  const rr = Buffer.alloc(8 + blocks.length * REPORT_BLOCK_SIZE);
  header(blocks.length, RTCP_RR, rr.length).copy(rr, 0);
  rr.writeUInt32BE(senderSsrc >>> 0, 4);
  blocks.forEach((b, i) => writeReportBlock(rr, 8 + i * REPORT_BLOCK_SIZE, b));
  return Buffer.concat([rr, buildSdesCname(senderSsrc, cname)]);
}

/** A compound SR (no report blocks) + SDES CNAME. */
export function buildSenderReport(opts: {
  ssrc: number;
  ntpMs: number;
  rtpTime: number;
  packetCount: number;
  octetCount: number;
  cname?: string;
}): Buffer {
  const sr = Buffer.alloc(28);
  header(0, RTCP_SR, sr.length).copy(sr, 0);
  sr.writeUInt32BE(opts.ssrc >>> 0, 4);
  sr.writeBigUInt64BE(unixMsToNtp(opts.ntpMs) & 0xffffffffffffffffn, 8);
  sr.writeUInt32BE(opts.rtpTime >>> 0, 16);
  sr.writeUInt32BE(opts.packetCount >>> 0, 20);
  sr.writeUInt32BE(opts.octetCount >>> 0, 24);
  return Buffer.concat([sr, buildSdesCname(opts.ssrc, opts.cname ?? 'camgate')]);
}
