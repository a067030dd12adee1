/** RTP-Info header (RFC 2326 §12.33): `url=…;seq=…;rtptime=…` entries separated by commas. */
import { err, ok, type Result } from '../../util/result.ts';
import { parseUint, splitParam } from './params.ts';

export interface RtpInfoEntry {
  url: string;
  seq?: number;
  rtptime?: number;
  /** Reolink appends ssrc= (hex) to each entry. */
  ssrc?: number;
}

const KNOWN = new Set(['seq', 'rtptime', 'ssrc', 'url']);

export function parseRtpInfo(value: string): Result<RtpInfoEntry[]> {
  if (typeof value !== 'string') return err('RTP-Info missing');
  // Split only on commas that start a new 'url=' entry: URLs may legally contain ',' and ';'.
  const entries = value.split(/,(?=\s*url\s*=)/i);
  const out: RtpInfoEntry[] = [];
  for (const e of entries) {
    let url: string | undefined;
    const entry: Partial<RtpInfoEntry> = {};
    for (const raw of e.split(';')) {
      const p = raw.trim();
      if (p.length === 0) continue; // Laureii: trailing ';'
      const [k, v] = splitParam(p);
      if (k === 'url' && url === undefined) {
        url = v ?? '';
      } else if (KNOWN.has(k) && k !== 'url') {
        if (k === 'seq') entry.seq = parseUint(v, 0xffff);
        // bad_rtptime (moonfire-nvr#224): rtptime=-1 is not a timestamp; leave it unset.
        else if (k === 'rtptime') entry.rtptime = parseUint(v, 0xffffffff);
        else if (k === 'ssrc' && v !== undefined && /^[0-9a-fA-F]{1,8}$/.test(v)) entry.ssrc = parseInt(v, 16) >>> 0;
      } else if (url !== undefined) {
        url += ';' + raw; // a ';' that belongs to the URL
      }
    }
    if (url === undefined || url.trim().length === 0) continue;
    const r: RtpInfoEntry = { url: url.trim() };
    if (entry.seq !== undefined) r.seq = entry.seq;
    if (entry.rtptime !== undefined) r.rtptime = entry.rtptime;
    if (entry.ssrc !== undefined) r.ssrc = entry.ssrc;
    out.push(r);
  }
  if (out.length === 0) return err('RTP-Info has no url entries');
  return ok(out);
}
