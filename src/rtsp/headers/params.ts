/**
 * Small helpers shared by the RTSP header parsers: splitting on a separator outside double quotes,
 * and unquoting. Header values come straight from cameras, so everything here is total (no throws).
 */

/** Split `s` on `sep` where not inside a double-quoted string. */
export function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

/** Trim and strip one pair of surrounding double quotes. */
export function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1);
  return t;
}

/** `key=value` → [lower-cased key, trimmed value or undefined]. */
export function splitParam(p: string): [string, string | undefined] {
  const eq = p.indexOf('=');
  if (eq < 0) return [p.trim().toLowerCase(), undefined];
  return [p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim()];
}

/** Non-negative decimal integer no greater than `max`, or undefined. */
export function parseUint(v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d{1,15}$/.test(t)) return undefined;
  const n = Number(t);
  return n <= max ? n : undefined;
}
