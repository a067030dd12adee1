/**
 * Secret redaction for every log line and error message: camera URLs carry passwords (QUIRKS Q15),
 * and those strings end up in logs, the status API and the UI.
 */

// scheme://userinfo@ — greedy up to the last '@' in the same whitespace-delimited token, because
// passwords contain '@', '/', '#', ':' unescaped. Over-redacting a path '@' is the safe failure.
const RE_URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s"'<>]*@/gi;
const RE_SECRET_PARAM = /(^|[?&;,\s])((?:password|passwd|pass|pwd)=)[^&\s#"'<>]*/gi;
const RE_BASIC_AUTH = /(Authorization:\s*Basic\s+)[A-Za-z0-9+/=._~-]+/gi;

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Replace the password (and userinfo) in any rtsp:// / http:// URL inside a string with '***';
 * also redact `password=…`/`pass=…` query params. Used by every log line and error message.
 */
export function redactSecrets(text: string, extraSecrets?: string[]): string {
  if (typeof text !== 'string') return text;
  let out = text.replace(RE_URL_USERINFO, '$1***@');
  out = out.replace(RE_SECRET_PARAM, '$1$2***');
  out = out.replace(RE_BASIC_AUTH, '$1***');
  if (extraSecrets) {
    for (const s of extraSecrets) {
      if (typeof s !== 'string' || s.length < 1) continue;
      const forms = new Set([s, encodeURIComponent(s)]);
      for (const f of forms) out = out.replace(new RegExp(escapeRe(f), 'g'), '***');
    }
  }
  return out;
}
