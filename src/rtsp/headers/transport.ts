/**
 * RTSP Transport header (RFC 2326 §12.39), parsed tolerantly: cameras put parameters in any order,
 * pad values with spaces and format SSRCs in creative ways (QUIRKS Q28).
 */
import { err, ok, type Result } from '../../util/result.ts';
import { parseUint, splitOutsideQuotes, splitParam, unquote } from './params.ts';

export interface TransportSpec {
  profile: string; // 'RTP/AVP', 'RTP/AVP/TCP', 'RTP/SAVP'…, as given (upper-cased)
  lowerTransport: 'UDP' | 'TCP';
  delivery?: 'unicast' | 'multicast';
  interleaved?: [number, number];
  clientPort?: [number, number];
  serverPort?: [number, number];
  port?: [number, number]; // multicast port
  destination?: string;
  source?: string;
  ttl?: number;
  ssrc?: number;
  mode?: string; // mode lower-cased, quotes stripped
}

/** `a-b` or a single `a` (meaning a, a+1: single server_port=8052, QUIRKS Q28). */
function parseRange(v: string | undefined, max: number): [number, number] | undefined {
  if (v === undefined) return undefined;
  const parts = unquote(v).split('-');
  if (parts.length > 2) return undefined;
  const a = parseUint(parts[0], max);
  if (a === undefined) return undefined;
  if (parts.length === 1) return [a, Math.min(a + 1, max)];
  const b = parseUint(parts[1], max);
  return b === undefined ? undefined : [a, b];
}

/**
 * RFC 2326 says ssrc is 8 hex digits. Hikvision and Dahua pad with leading spaces (`ssrc= d6d6627`,
 * `ssrc=     D93FF`), and short or decimal-looking values are still hex (QUIRKS Q28). Anything
 * else (e.g. 10 decimal digits) is ignored rather than failing the SETUP.
 */
function parseSsrc(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = unquote(v);
  if (!/^[0-9a-fA-F]{1,8}$/.test(t)) return undefined;
  return parseInt(t, 16) >>> 0;
}

function parseOne(spec: string): Result<TransportSpec> {
  const params = splitOutsideQuotes(spec, ';');
  let profile: string | undefined;
  const t: Partial<TransportSpec> = {};
  for (const raw of params) {
    const p = raw.trim();
    if (p.length === 0) continue;
    const [key, value] = splitParam(p);
    if (value === undefined) {
      // The transport-protocol/profile is usually first, but accept it anywhere (luckfox puts ssrc
      // before unicast; QUIRKS Q28).
      if (key.includes('/')) {
        if (profile === undefined) profile = key.toUpperCase();
      } else if (key === 'unicast' || key === 'multicast') {
        t.delivery = key;
      }
      continue;
    }
    switch (key) {
      case 'interleaved':
        t.interleaved = parseRange(value, 255) ?? t.interleaved;
        break;
      case 'client_port':
        t.clientPort = parseRange(value, 65535) ?? t.clientPort;
        break;
      case 'server_port':
        t.serverPort = parseRange(value, 65535) ?? t.serverPort;
        break;
      case 'port':
        t.port = parseRange(value, 65535) ?? t.port;
        break;
      case 'destination': {
        const d = unquote(value);
        if (d.length > 0) t.destination = d;
        break;
      }
      case 'source': {
        // H264DVR and others send an empty source= (QUIRKS Q28): treat as absent.
        const s = unquote(value);
        if (s.length > 0) t.source = s;
        break;
      }
      case 'ttl':
        t.ttl = parseUint(unquote(value), 255) ?? t.ttl;
        break;
      case 'ssrc':
        t.ssrc = parseSsrc(value) ?? t.ssrc;
        break;
      case 'mode': {
        // Hikvision: mode="play" quoted; others: mode=PLAY upper-case (QUIRKS Q28).
        const m = unquote(value).toLowerCase();
        if (m.length > 0) t.mode = m;
        break;
      }
      default:
        break; // append, layers, rtcp-mux… not needed by a client; ignored
    }
  }
  if (profile === undefined) return err(`Transport has no transport-protocol: ${JSON.stringify(spec.slice(0, 80))}`);
  // 'RTP/AVP' is UDP by default (RFC 2326 §12.39); 'RTP/AVP/TCP' is interleaved.
  const parts = profile.split('/');
  const lower = parts.length >= 3 ? parts[2] : undefined;
  const lowerTransport: 'UDP' | 'TCP' = lower === 'TCP' ? 'TCP' : 'UDP';
  return ok({ profile, lowerTransport, ...t });
}

/** Comma-separated alternatives (RFC 2326 §12.39); alternatives that make no sense are skipped. */
export function parseTransport(value: string): Result<TransportSpec[]> {
  if (typeof value !== 'string') return err('Transport missing');
  const out: TransportSpec[] = [];
  let firstError: string | undefined;
  for (const alt of splitOutsideQuotes(value, ',')) {
    if (alt.trim().length === 0) continue;
    const r = parseOne(alt);
    if (r.ok) out.push(r.value);
    else firstError ??= r.error;
  }
  if (out.length === 0) return err(firstError ?? 'empty Transport header');
  return ok(out);
}

const pair = (p: [number, number]): string => (p[0] === p[1] ? `${p[0]}` : `${p[0]}-${p[1]}`);

export function formatTransport(t: TransportSpec): string {
  const parts: string[] = [t.profile];
  if (t.delivery) parts.push(t.delivery);
  if (t.destination !== undefined) parts.push(`destination=${t.destination}`);
  if (t.source !== undefined) parts.push(`source=${t.source}`);
  if (t.interleaved) parts.push(`interleaved=${pair(t.interleaved)}`);
  if (t.ttl !== undefined) parts.push(`ttl=${t.ttl}`);
  if (t.port) parts.push(`port=${pair(t.port)}`);
  if (t.clientPort) parts.push(`client_port=${pair(t.clientPort)}`);
  if (t.serverPort) parts.push(`server_port=${pair(t.serverPort)}`);
  if (t.ssrc !== undefined) parts.push(`ssrc=${(t.ssrc >>> 0).toString(16).toUpperCase().padStart(8, '0')}`);
  if (t.mode !== undefined) parts.push(`mode=${t.mode.toUpperCase()}`);
  return parts.join(';');
}
