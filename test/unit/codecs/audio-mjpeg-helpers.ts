// Shared by the aac/g711/opus/mjpeg depacketizer tests (not a test file itself).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Depacketizer, Frame, RtpPacketIn } from '../../../src/codecs/types.ts';
import { readRfc4571 } from '../../helpers/rtp-capture.ts';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/rtp');

/** Minimal RTP (RFC 3550 §5.1) parse for captures: skips CSRCs, header extension and padding. */
export function parseRtp(b: Buffer): { pt: number; seq: number; ts: number; marker: boolean; payload: Buffer } {
  if (b.length < 12 || b[0]! >> 6 !== 2) throw new Error('not RTP');
  const cc = b[0]! & 0x0f;
  let off = 12 + cc * 4;
  if (b[0]! & 0x10) off += 4 + b.readUInt16BE(off + 2) * 4;
  let end = b.length;
  if (b[0]! & 0x20) end -= b[b.length - 1]!;
  return { pt: b[1]! & 0x7f, seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), marker: (b[1]! & 0x80) !== 0, payload: b.subarray(off, end) };
}

/** The capture's packets as RtpPacketIn, with timestamps unwrapped (extended) and loss flags from gaps. */
export function loadCapture(name: string): { pkt: RtpPacketIn; lostBefore: boolean }[] {
  const out: { pkt: RtpPacketIn; lostBefore: boolean }[] = [];
  let lastTs: number | undefined;
  let ext = 0;
  let lastSeq: number | undefined;
  for (const raw of readRfc4571(path.join(FIXTURES, name))) {
    const p = parseRtp(raw);
    if (lastTs !== undefined) {
      let d = p.ts - lastTs;
      if (d < -0x80000000) d += 0x100000000;
      else if (d > 0x80000000) d -= 0x100000000;
      ext += d;
    } else ext = p.ts;
    lastTs = p.ts;
    const lostBefore = lastSeq !== undefined && ((lastSeq + 1) & 0xffff) !== p.seq;
    lastSeq = p.seq;
    out.push({ pkt: { payloadType: p.pt, sequenceNumber: p.seq, timestamp: ext, marker: p.marker, payload: p.payload }, lostBefore });
  }
  return out;
}

/** The negotiated caps saved by make-audio.sh, as a lower-case-keyed record (string values). */
export function loadCaps(name: string): Record<string, string> {
  const txt = readFileSync(path.join(FIXTURES, `${name}.caps.txt`), 'utf8');
  const out: Record<string, string> = {};
  for (const m of txt.matchAll(/([a-z0-9-]+)=\(([a-z]+)\)([^,]+)/gi)) out[m[1]!.toLowerCase()] = m[3]!.trim();
  return out;
}

/** Parses an SDP a=fmtp value the way the SDP layer hands it over: keys lower-cased. */
export function fmtpOf(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    out[part.slice(0, i).trim().toLowerCase()] = part.slice(i + 1).trim();
  }
  return out;
}

export function runAll(d: Depacketizer, pkts: { pkt: RtpPacketIn; lostBefore: boolean }[]): Frame[] {
  const frames: Frame[] = [];
  for (const { pkt, lostBefore } of pkts) frames.push(...d.push(pkt, lostBefore));
  return frames;
}

export function pkt(timestamp: number, payload: Buffer, marker = true, sequenceNumber = 0): RtpPacketIn {
  return { payloadType: 96, sequenceNumber, timestamp, marker, payload };
}

/** Runs a tool with stdin, returning stdout/stderr (throws on spawn failure, not on exit code). */
export function run(cmd: string, args: string[], input?: Buffer): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}
