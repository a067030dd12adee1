/** Range header (RFC 2326 §12.29): `npt=0.000-`, `clock=…Z-…Z`, `smpte=10:07:00-10:07:33:05`. */
import { err, ok, type Result } from '../../util/result.ts';

export function parseRange(value: string): Result<{ unit: 'npt' | 'clock' | 'smpte'; start?: string; end?: string }> {
  if (typeof value !== 'string') return err('Range missing');
  // A ';time=' parameter may follow the range itself.
  const spec = value.split(';')[0]!.trim();
  const eq = spec.indexOf('=');
  if (eq < 0) return err(`Range without unit: ${JSON.stringify(spec.slice(0, 64))}`);
  const unitRaw = spec.slice(0, eq).trim().toLowerCase();
  let unit: 'npt' | 'clock' | 'smpte';
  if (unitRaw === 'npt' || unitRaw === 'clock') unit = unitRaw;
  else if (unitRaw.startsWith('smpte')) unit = 'smpte'; // smpte, smpte-30-drop, smpte-25
  else return err(`unknown Range unit ${JSON.stringify(unitRaw.slice(0, 32))}`);
  const rest = spec.slice(eq + 1);
  const dash = rest.indexOf('-');
  if (dash < 0) return err(`Range without '-': ${JSON.stringify(spec.slice(0, 64))}`);
  // Wowza writes 'npt=0- 596.48' with a space.
  const start = rest.slice(0, dash).trim();
  const end = rest.slice(dash + 1).trim();
  const out: { unit: 'npt' | 'clock' | 'smpte'; start?: string; end?: string } = { unit };
  if (start.length > 0) out.start = start;
  if (end.length > 0) out.end = end;
  return ok(out);
}
