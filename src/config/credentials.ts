/**
 * Camera credentials: out-of-band fields and URL userinfo (QUIRKS Q15).
 *
 * Real cameras ship passwords containing `@ # % : / ! ^ ?`, sometimes percent-encoded and sometimes
 * not, so a strict RFC 3986 parser (WHATWG URL included) rejects or mis-splits them. The rules here:
 * - userinfo ends at the LAST '@' whose remainder still looks like `host[:port]` (a host never
 *   contains '@'; a password may);
 * - user and password split at the FIRST ':' (a password may contain ':', a user name may not);
 * - each part is percent-decoded exactly once, and a '%' not followed by two hex digits is kept as is.
 * Nothing here throws.
 */
import type { CameraConfig } from './types.ts';

const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)/;
/** What may follow the userinfo '@' up to the path: a reg-name / IPv4 / [IPv6] host and an optional port. Empty host allowed so a broken URL still gets its userinfo split (and redacted). */
const AUTHORITY_RE = /^(\[[0-9A-Za-z:.%_~-]*\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(:[0-9]*)?$/;

export interface UrlParts {
  /** 'rtsp://' */
  prefix: string;
  /** Raw (still percent-encoded) userinfo, without the '@'; undefined when the URL has none. */
  userinfo?: string;
  /** Everything after the userinfo: host[:port][/path][?query] */
  rest: string;
}

/** Split `scheme://[userinfo@]rest`. Returns undefined for strings without `scheme://` (e.g. 'builtin:demo'). */
export function splitUrl(url: string): UrlParts | undefined {
  if (typeof url !== 'string') return undefined;
  const m = SCHEME_RE.exec(url);
  if (!m) return undefined;
  const prefix = m[1];
  const after = url.slice(prefix.length);
  // Q15: try '@' positions from the last one backwards; the first whose remainder is a plausible
  // authority wins. A password such as "p@ss/w?rd" therefore stays whole.
  for (let at = after.lastIndexOf('@'); at >= 0; at = at === 0 ? -1 : after.lastIndexOf('@', at - 1)) {
    const tail = after.slice(at + 1);
    const end = tail.search(/[/?#]/);
    const authority = end < 0 ? tail : tail.slice(0, end);
    if (AUTHORITY_RE.test(authority)) return { prefix, userinfo: after.slice(0, at), rest: tail };
  }
  return { prefix, rest: after };
}

/** Percent-decode once; a '%' not followed by two hex digits is literal (gortsplib restored this for real cameras, Q15). */
export function percentDecodeLenient(s: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      // Non-ASCII literal: append its UTF-8 bytes (handles surrogate pairs via codePointAt).
      const cp = s.codePointAt(i) ?? c;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
      if (cp > 0xffff) i++;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Resolve a camera's credentials: fields override the URL userinfo. Userinfo split at the LAST '@'
 * before the host, percent-decoded once, a lone '%' tolerated (passwords with @ # % : ! / ^ ? must
 * work, Q15). Returns the URL with userinfo removed, so it never reaches the wire. Never throws.
 */
export function splitCredentials(
  url: string,
  username?: string,
  password?: string,
): { url: string; username?: string; password?: string } {
  let user: string | undefined;
  let pass: string | undefined;
  let bare = typeof url === 'string' ? url : '';
  const parts = splitUrl(bare);
  if (parts && parts.userinfo !== undefined) {
    const colon = parts.userinfo.indexOf(':');
    if (colon < 0) {
      user = percentDecodeLenient(parts.userinfo);
    } else {
      user = percentDecodeLenient(parts.userinfo.slice(0, colon));
      // Empty password (`admin:@host`) is a real configuration (Q15): keep it as ''.
      pass = percentDecodeLenient(parts.userinfo.slice(colon + 1));
    }
    if (user === '') user = undefined;
    bare = parts.prefix + parts.rest;
  }
  if (username !== undefined) user = username;
  if (password !== undefined) pass = password;
  const out: { url: string; username?: string; password?: string } = { url: bare };
  if (user !== undefined) out.username = user;
  if (pass !== undefined) out.password = pass;
  return out;
}

/** The URL with its userinfo password replaced by '***' (user name kept: it helps debugging and is not secret). */
export function redactUrl(url: string): string {
  if (typeof url !== 'string') return '';
  const parts = splitUrl(url);
  const colon = parts?.userinfo?.indexOf(':') ?? -1;
  const out = parts && parts.userinfo !== undefined && colon >= 0 ? `${parts.prefix}${parts.userinfo.slice(0, colon)}:***@${parts.rest}` : url;
  return redactQueryPasswords(out);
}

/** Dahua/Amcrest-style `?user=admin&password=…` query credentials. */
const QUERY_PASSWORD_RE = /([?&;](?:password|passwd|pass|pwd)=)[^&#\s"']*/gi;

function redactQueryPasswords(s: string): string {
  return s.replace(QUERY_PASSWORD_RE, '$1***');
}

/**
 * Last line of defence for free text (error messages, logs): redact the userinfo password of every
 * `scheme://…` token. Errs on the side of hiding too much: when no '@' in the token is followed by a
 * plausible host (e.g. a quote glued to it) the last '@' is used, and a `scheme://user:xxx` token
 * with no '@' at all (a password containing a space) is redacted up to the next '@host' on the line.
 */
export function redactText(text: string): string {
  if (typeof text !== 'string') return '';
  const scheme = /[A-Za-z][A-Za-z0-9+.-]*:\/\//g;
  let out = '';
  let copied = 0;
  for (let m = scheme.exec(text); m; m = scheme.exec(text)) {
    const tokStart = m.index + m[0].length;
    const ws = text.slice(tokStart).search(/\s/);
    const tokEnd = ws < 0 ? text.length : tokStart + ws;
    const tok = text.slice(tokStart, tokEnd);
    const colon = tok.indexOf(':');
    const at = tok.lastIndexOf('@');
    let replacement: string | undefined;
    let end = tokEnd;
    if (at >= 0) {
      const r = redactUrl(m[0] + tok);
      if (r !== m[0] + tok) replacement = r;
      else if (colon >= 0 && colon < at) replacement = `${m[0]}${tok.slice(0, colon)}:***@${tok.slice(at + 1)}`;
    } else if (colon >= 0 && !/^\d*([/?#].*)?$/.test(tok.slice(colon + 1))) {
      // `host:554/path` is a port, not a password; anything else may be a password with a space in it.
      const lineEnd = text.indexOf('\n', tokEnd);
      const rest = text.slice(tokEnd, lineEnd < 0 ? text.length : lineEnd);
      const h = /^(.*?)@(?=[A-Za-z0-9.[\]:_~%-]*(?:[\s/?#"'),]|$))/.exec(rest);
      if (h) {
        replacement = `${m[0]}${tok.slice(0, colon)}:***@`;
        end = tokEnd + h[0].length;
      }
    }
    if (replacement !== undefined) {
      out += text.slice(copied, m.index) + replacement;
      copied = end;
    }
    scheme.lastIndex = Math.max(end, tokStart);
  }
  return redactQueryPasswords(out + text.slice(copied));
}

/** The camera as it may be shown in logs/API: URL userinfo password replaced with '***', password field omitted. */
export function redactCamera(c: CameraConfig): Omit<CameraConfig, 'password'> & { url: string; sub?: string } {
  const { password: _password, ...rest } = c;
  const out: Omit<CameraConfig, 'password'> & { url: string; sub?: string } = { ...rest, url: redactUrl(c.url) };
  if (c.sub !== undefined) out.sub = redactUrl(c.sub);
  return out;
}
