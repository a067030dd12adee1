/**
 * application/trickle-ice-sdpfrag (RFC 8840 §9, used by WHEP PATCH): ICE credentials, candidates and
 * end-of-candidates, grouped by m-section (a=mid). Line-based and bounded; never throws.
 */

export interface SdpFragCandidate {
  /** The attribute value after 'candidate:'. */
  candidate: string;
  mid?: string;
  mLineIndex: number;
}

export interface SdpFrag {
  ufrag?: string;
  pwd?: string;
  candidates: SdpFragCandidate[];
  /** mDNS (.local) candidates ignored: camgate cannot resolve them and they only leak intent. */
  ignoredMdns: number;
  endOfCandidates: boolean;
  /** First mid seen (for the answer fragment). */
  mids: string[];
}

export type SdpFragResult = { ok: true; frag: SdpFrag } | { ok: false; error: string };

const MAX_LINES = 1000;
const ICE_CHAR = /^[A-Za-z0-9+/]+$/;

export function parseSdpFrag(text: string): SdpFragResult {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length > MAX_LINES) return { ok: false, error: 'sdpfrag too long' };
  const frag: SdpFrag = { candidates: [], ignoredMdns: 0, endOfCandidates: false, mids: [] };
  let mLine = -1;
  let mid: string | undefined;
  for (const line of lines) {
    if (line.length < 2 || line[1] !== '=') return { ok: false, error: `not an SDP line: ${JSON.stringify(line.slice(0, 40))}` };
    const type = line[0];
    const value = line.slice(2);
    if (type === 'm') {
      mLine++;
      mid = undefined;
      continue;
    }
    if (type !== 'a') continue;
    const colon = value.indexOf(':');
    const name = colon < 0 ? value : value.slice(0, colon);
    const v = colon < 0 ? '' : value.slice(colon + 1).trim();
    switch (name) {
      case 'mid':
        mid = v;
        frag.mids.push(v);
        break;
      case 'ice-ufrag':
        if (!ICE_CHAR.test(v) || v.length < 4 || v.length > 256) return { ok: false, error: 'bad ice-ufrag' };
        frag.ufrag = v;
        break;
      case 'ice-pwd':
        if (!ICE_CHAR.test(v) || v.length < 22 || v.length > 256) return { ok: false, error: 'bad ice-pwd' };
        frag.pwd = v;
        break;
      case 'candidate': {
        const parts = v.split(/\s+/);
        // foundation component transport priority address port 'typ' type …
        if (parts.length < 8 || parts[6] !== 'typ' || !/^\d+$/.test(parts[1]!) || !/^\d+$/.test(parts[5]!)) {
          return { ok: false, error: `bad candidate: ${v.slice(0, 60)}` };
        }
        if (parts[4]!.toLowerCase().endsWith('.local')) {
          frag.ignoredMdns++;
          break;
        }
        frag.candidates.push({ candidate: v, mid, mLineIndex: Math.max(0, mLine) });
        break;
      }
      case 'end-of-candidates':
        frag.endOfCandidates = true;
        break;
      default:
        break;
    }
  }
  if ((frag.ufrag === undefined) !== (frag.pwd === undefined)) return { ok: false, error: 'ice-ufrag and ice-pwd must come together' };
  return { ok: true, frag };
}

/** The server's answer fragment to an ICE restart: new credentials and host candidates (RFC 8840 §9). */
export function writeSdpFrag(o: { ufrag: string; pwd: string; mid?: string; candidates: string[] }): string {
  const lines = [`a=ice-ufrag:${o.ufrag}`, `a=ice-pwd:${o.pwd}`];
  if (o.mid !== undefined) lines.push('m=audio 9 RTP/AVP 0', `a=mid:${o.mid}`);
  for (const c of o.candidates) lines.push(`a=candidate:${c}`);
  lines.push('a=end-of-candidates');
  return lines.join('\r\n') + '\r\n';
}
