/**
 * RTSP URL parsing and the de-facto control-URL resolution used by live555, FFmpeg and gortsplib.
 *
 * Deliberately not WHATWG `URL`: camera passwords contain `@ # % : / ! ^ ?` unescaped, and RFC 3986
 * relative resolution produces URLs that cameras reject (QUIRKS Q15, Q16).
 */
import { err, ok, type Result } from '../util/result.ts';

export interface Credentials {
  username: string;
  password: string;
}
export interface RtspUrl {
  scheme: 'rtsp' | 'rtsps';
  host: string /*no brackets*/;
  port: number /*default 554/322*/;
  /** path + query, starts with '/' */
  pathAndQuery: string;
  /** the URL without userinfo, as sent on the wire */
  href: string;
  credentials?: Credentials;
}

export const DEFAULT_PORTS = { rtsp: 554, rtsps: 322 } as const;

const RE_SCHEME = /^(rtsps?):\/\//i;
const RE_HOSTNAME = /^[A-Za-z0-9._~!$&'()*+,;=-]+$/; // RFC 3986 reg-name without pct-encoding
const RE_IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9._~-]+)?$/;

/** Percent-decode once, leaving a '%' not followed by two hex digits as is (QUIRKS Q15, gortsplib@6fe7a316). */
export function lenientPercentDecode(s: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < s.length; ) {
    const c = s[i]!;
    if (c === '%' && i + 2 < s.length && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
      continue;
    }
    const cp = s.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    for (const b of enc.encode(ch)) bytes.push(b);
    i += ch.length;
  }
  return Buffer.from(bytes).toString('utf8');
}

interface Authority {
  host: string;
  port?: number;
}

function parseAuthority(a: string): Authority | undefined {
  if (a.length === 0) return undefined;
  if (a.startsWith('[')) {
    const close = a.indexOf(']');
    if (close < 0) return undefined;
    const host = a.slice(1, close);
    if (!RE_IPV6.test(host)) return undefined;
    const rest = a.slice(close + 1);
    if (rest.length === 0) return { host };
    if (!rest.startsWith(':')) return undefined;
    const port = parsePort(rest.slice(1));
    if (port === null) return undefined;
    return port === undefined ? { host } : { host, port };
  }
  const colons = a.split(':').length - 1;
  if (colons > 1) {
    // IPv6 without brackets, e.g. 'rtsp://::ffff:192.168.1.123/…' (QUIRKS Q17, WebRTC#395): all host.
    return RE_IPV6.test(a) ? { host: a } : undefined;
  }
  const c = a.indexOf(':');
  const host = c < 0 ? a : a.slice(0, c);
  if (host.length === 0 || !RE_HOSTNAME.test(host)) return undefined;
  if (c < 0) return { host };
  const port = parsePort(a.slice(c + 1));
  if (port === null) return undefined;
  return port === undefined ? { host } : { host, port };
}

/** undefined: empty (default port); null: invalid. */
function parsePort(p: string): number | undefined | null {
  if (p.length === 0) return undefined;
  if (!/^\d{1,5}$/.test(p)) return null;
  const n = Number(p);
  return n >= 1 && n <= 65535 ? n : null;
}

const hostForUrl = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/**
 * Q15: userinfo split at the LAST '@' before the host, percent-decoded once, a lone '%' tolerated;
 * the password may contain @ # % : / ! ^ ?. Never puts userinfo in href.
 */
export function parseRtspUrl(url: string): Result<RtspUrl> {
  if (typeof url !== 'string') return err('URL is not a string');
  const s = url.trim();
  const m = RE_SCHEME.exec(s);
  if (!m) return err('not an rtsp:// or rtsps:// URL');
  const scheme = m[1]!.toLowerCase() as 'rtsp' | 'rtsps';
  const rest = s.slice(m[0].length);

  // Try each '@' from the last one backwards: the userinfo may contain '@', '/', '?' and '#', so the
  // host is what follows the last '@' whose suffix still parses as an authority.
  let at = rest.lastIndexOf('@');
  let userinfo: string | undefined;
  let hostPart = rest;
  while (at >= 0) {
    const after = rest.slice(at + 1);
    const authEnd = after.search(/[/?]/);
    const auth = authEnd < 0 ? after : after.slice(0, authEnd);
    if (parseAuthority(auth)) {
      userinfo = rest.slice(0, at);
      hostPart = after;
      break;
    }
    at = at > 0 ? rest.lastIndexOf('@', at - 1) : -1;
  }
  const authEnd = hostPart.search(/[/?]/);
  const authText = authEnd < 0 ? hostPart : hostPart.slice(0, authEnd);
  let pathAndQuery = authEnd < 0 ? '/' : hostPart.slice(authEnd);
  if (pathAndQuery.startsWith('?')) pathAndQuery = '/' + pathAndQuery;
  if (/[\s]/.test(pathAndQuery)) pathAndQuery = pathAndQuery.replace(/\s/g, (c) => encodeURIComponent(c));
  const authority = parseAuthority(authText);
  if (!authority) return err('invalid host or port in URL');
  const port = authority.port ?? DEFAULT_PORTS[scheme];
  const href = `${scheme}://${hostForUrl(authority.host)}${authority.port !== undefined ? ':' + authority.port : ''}${pathAndQuery}`;
  const out: RtspUrl = { scheme, host: authority.host, port, pathAndQuery, href };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const username = lenientPercentDecode(colon < 0 ? userinfo : userinfo.slice(0, colon));
    const password = colon < 0 ? '' : lenientPercentDecode(userinfo.slice(colon + 1));
    out.credentials = { username, password };
  }
  return ok(out);
}

/** Replace scheme://userinfo@host:port with the forced authority (or only drop userinfo). */
function rewriteAbsolute(control: string, forceAuthority?: { host: string; port: number }): string {
  const u = parseRtspUrl(control);
  if (!u.ok) return control;
  if (!forceAuthority) return u.value.href;
  return `${u.value.scheme}://${hostForUrl(forceAuthority.host)}:${forceAuthority.port}${u.value.pathAndQuery}`;
}

/**
 * Q16: '*' or empty ⇒ base; absolute rtsp(s):// ⇒ itself, but with host:port forced to
 * `forceAuthority` when given (Q18) and userinfo stripped; '?x' ⇒ base+'?x'; else string-append
 * with exactly one '/' (appending after a query, like live555/ffmpeg).
 */
export function joinControl(base: string, control: string | undefined, forceAuthority?: { host: string; port: number }): string {
  const c = (control ?? '').trim();
  if (c.length === 0 || c === '*') return base;
  if (RE_SCHEME.test(c)) return rewriteAbsolute(c, forceAuthority);
  if (c.startsWith('?')) return base + c;
  // VStarcam 'rtsp://ip:10554/tcp/av0_0' + 'track0' must give '/tcp/av0_0/track0', not RFC 3986's
  // '/tcp/track0'; Dahua bases end in a query and the control is appended after it (QUIRKS Q16).
  const bSlash = base.endsWith('/');
  const cSlash = c.startsWith('/');
  if (bSlash && cSlash) return base + c.slice(1);
  if (bSlash || cSlash) return base + c;
  return base + '/' + c;
}

/** Make a server-provided base usable: doubled scheme, schemeless, relative path (QUIRKS Q17). */
function repairBase(candidate: string, request: RtspUrl): string | undefined {
  let c = candidate.trim();
  if (c.length === 0) return undefined;
  // 'rtsp://rtsp://turret2-cam.lan:554/stream1/' (go2rtc#830): keep the last scheme.
  const dbl = /^(?:rtsps?:\/\/)+(rtsps?:\/\/)/i.exec(c);
  if (dbl) c = dbl[1] + c.slice(dbl[0].length);
  if (RE_SCHEME.test(c)) {
    const u = parseRtspUrl(c);
    return u.ok ? u.value.href : undefined;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(c)) return undefined; // http:// etc.: not a usable base
  const origin = `${request.scheme}://${hostForUrl(request.host)}:${request.port}`;
  if (c.startsWith('/')) {
    const u = parseRtspUrl(origin + c); // relative Content-Base '/path/' (gortsplib@21e06b0f)
    return u.ok ? u.value.href : undefined;
  }
  // Anjvision 'Content-Base: 192.168.1.10:554/stream0/' (moonfire#356): a host without a scheme.
  const firstSeg = c.split(/[/?]/)[0]!;
  if (/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|localhost)(:\d{1,5})?$/.test(firstSeg) || /^[A-Za-z0-9.-]+:\d{1,5}$/.test(firstSeg)) {
    const u = parseRtspUrl(`${request.scheme}://${c}`);
    return u.ok ? u.value.href : undefined;
  }
  return undefined;
}

/**
 * Q17: base URL precedence: session-level a=control (if not '*'; absolute only), Content-Base,
 * Content-Location, request URL. Repairs relative (`/path/`), schemeless (`192.168.1.10:554/stream0/`)
 * and doubled-scheme (`rtsp://rtsp://…`) bases against the request URL; strips userinfo; keeps the query.
 */
export function resolveBaseUrl(opts: { requestUrl: string; sessionControl?: string; contentBase?: string; contentLocation?: string }): string {
  const req = parseRtspUrl(opts.requestUrl);
  if (!req.ok) return opts.requestUrl;
  const sc = opts.sessionControl?.trim();
  // AXIS Companion puts the base in the session-level control (gortsplib@811e189b); FFmpeg only
  // honours it when absolute, and so do we.
  if (sc && sc !== '*' && /^(rtsps?:\/\/)/i.test(sc)) {
    const b = repairBase(sc, req.value);
    if (b) return b;
  }
  for (const cand of [opts.contentBase, opts.contentLocation]) {
    if (cand === undefined) continue;
    const b = repairBase(cand, req.value);
    if (b) return b;
  }
  return req.value.href;
}
