/** Public header (RFC 2326 §12.28): comma-separated methods the server supports. */
export function parsePublic(value: string | undefined): Set<string> {
  const out = new Set<string>();
  if (typeof value !== 'string') return out;
  for (const m of value.split(/[,\s]+/)) {
    const t = m.trim().toUpperCase();
    if (t.length > 0) out.add(t);
  }
  return out;
}
