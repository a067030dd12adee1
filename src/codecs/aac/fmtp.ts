export type { DepacketizerInit } from '../types.ts';

/**
 * fmtp parameters with keys lower-cased and values trimmed of spaces and stray ';'. Callers are meant to
 * lower-case keys already; this repeats it so a camera's `sizeLength`/`SizeLength` spelling can never slip
 * through (QUIRKS Q40, Reolink trailing ';').
 */
export function normalizeFmtp(fmtp: Record<string, string> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!fmtp) return out;
  for (const [k, v] of Object.entries(fmtp)) {
    out.set(k.trim().toLowerCase(), String(v ?? '').trim().replace(/;+\s*$/, '').trim());
  }
  return out;
}

/** A non-negative integer fmtp value, or `fallback` when absent or not a number. */
export function fmtpInt(f: Map<string, string>, key: string, fallback: number): number {
  const v = f.get(key);
  if (v === undefined || !/^\d+$/.test(v)) return fallback;
  return Number.parseInt(v, 10);
}
