/** RTSP Session header (RFC 2326 §12.37): `id[;timeout=seconds]`. */
import { err, ok, type Result } from '../../util/result.ts';
import { parseUint, splitParam } from './params.ts';

export function parseSession(value: string): Result<{ id: string; timeout?: number }> {
  if (typeof value !== 'string') return err('Session missing');
  // Hikvision pads with spaces ('Session:        708345999'); GW firmware writes '; timeout=60'.
  const parts = value.split(';');
  const id = parts[0]!.trim();
  if (id.length === 0) return err('empty Session id');
  if (/[\s,"]/.test(id)) return err(`invalid Session id ${JSON.stringify(id.slice(0, 64))}`);
  const out: { id: string; timeout?: number } = { id };
  for (const p of parts.slice(1)) {
    const [k, v] = splitParam(p);
    if (k !== 'timeout') continue;
    // A nonsensical timeout is ignored (the client falls back to the 60 s default), not fatal.
    const t = parseUint(v, 86_400);
    if (t !== undefined && t > 0) out.timeout = t;
  }
  return ok(out);
}
