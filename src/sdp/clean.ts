/**
 * Pre-cleaning of camera SDP text into `x=value` lines (QUIRKS Q32). Every repair adds a warning named
 * after the behaviour it survives; lines that cannot be repaired are reported in `skipped`.
 */

export interface SdpLine {
  /** Lower-cased type letter: v o s i u e p c b t r z k a m */
  type: string;
  value: string;
}

/** Cameras send a few KB; anything past this is not an SDP we can use. */
export const MAX_SDP_BYTES = 256 * 1024;
export const MAX_SKIPPED = 50;
/** Longest line we look at; real ones (fmtp with parameter sets) stay well under 4 KB. */
export const MAX_LINE = 16 * 1024;
/** A real glued line has one join; more is garbage and would cost quadratic time to split. */
const MAX_GLUE_SPLITS = 8;

// Reolink doorbell: `a=sendonly` with the next line glued on, no line break (QUIRKS Q32, go2rtc@abbf180b)
const DIRECTION_GLUE = /^(a=(?:sendonly|recvonly|sendrecv|inactive))([a-z]=.*)$/i;
// A media line glued onto the end of the previous line, e.g. Reolink `a=sendonlym=audio 0 RTP/AVP 0`.
const MEDIA_GLUE = /^(.*?\S)(m=(?:video|audio|application|text|message|data|metadata)(?:\/[\w.-]{1,40})? \d{1,5}(?:\/\d{1,5})? \S+.*)$/;

export function cleanSdpLines(input: string | Buffer, warnings: string[], skipped: string[]): SdpLine[] {
  const warn = (w: string) => {
    if (!warnings.includes(w)) warnings.push(w);
  };
  let text = typeof input === 'string' ? input : input.toString('utf8');
  if (text.length > MAX_SDP_BYTES) {
    text = text.slice(0, MAX_SDP_BYTES);
    warn(`SDP truncated to ${MAX_SDP_BYTES} bytes`);
  }
  if (text.charCodeAt(0) === 0xfeff) {
    text = text.slice(1);
    warn('byte order mark removed');
  }
  // Line-ending, whitespace and final-newline variants seen in camera SDPs (QUIRKS Q32)
  const crlf = text.includes('\r\n');
  const loneLf = /(^|[^\r])\n/.test(text);
  const loneCr = /\r(?!\n)/.test(text);
  if (!crlf && loneLf && !loneCr) warn('LF-only line endings');
  else if (!crlf && loneCr && !loneLf) warn('CR-only line endings');
  else if ((crlf ? 1 : 0) + (loneLf ? 1 : 0) + (loneCr ? 1 : 0) > 1) warn('mixed line endings');
  if (text.length > 0 && !/[\r\n]$/.test(text)) warn('missing final newline');

  const lines = text.split(/\r\n|\r|\n/);
  const out: SdpLine[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.length === 0) continue;
    if (raw.trim().length === 0) {
      warn('whitespace-only lines');
      continue;
    }
    let line = raw;
    if (line !== line.trimEnd()) {
      warn('trailing whitespace');
      line = line.trimEnd();
    }
    if (line !== line.trimStart()) {
      warn('leading whitespace');
      line = line.trimStart();
    }
    if (line.includes('\0')) {
      if (skipped.length < MAX_SKIPPED) skipped.push(`line ${i + 1}: contains NUL bytes`);
      continue;
    }
    if (line.length > MAX_LINE) {
      if (skipped.length < MAX_SKIPPED) skipped.push(`line ${i + 1}: longer than ${MAX_LINE} characters`);
      continue;
    }
    // Split glued lines left to right; each piece is examined again.
    let rest: string | undefined = line;
    let splits = 0;
    while (rest !== undefined) {
      let cur: string = rest;
      rest = undefined;
      let g: RegExpExecArray | null = null;
      if (splits < MAX_GLUE_SPLITS) {
        g = DIRECTION_GLUE.exec(cur);
        if (!g && !/^m=/i.test(cur)) g = MEDIA_GLUE.exec(cur);
      }
      if (g) {
        splits++;
        warn('glued lines repaired');
        cur = g[1];
        rest = g[2];
      }
      const m = /^([a-zA-Z])=(.*)$/.exec(cur) ?? /^([a-zA-Z])\s*=\s*(.*)$/.exec(cur);
      if (!m) {
        // bounded: garbage input must not grow the report without limit
        if (skipped.length < MAX_SKIPPED) skipped.push(`line ${i + 1}: not an SDP line: ${cur.slice(0, 80)}`);
        continue;
      }
      out.push({ type: m[1].toLowerCase(), value: m[2] });
    }
  }
  return out;
}
