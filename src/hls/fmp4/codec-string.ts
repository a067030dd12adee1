/**
 * RFC 6381 codec strings read back from an init segment's sample entries, so the multivariant
 * playlist's CODECS attribute is derived from the very bytes the player is given: avcC → avc1.PPCCLL,
 * hvcC → hvc1.<space><profile>.<compat reversed>.<tier><level>[.constraints] (ISO/IEC 14496-15
 * Annex E), esds → mp4a.40.<audio object type>, dOps → opus.
 */
import { findBox, readBoxes } from './box.ts';

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

function avc1(buf: Buffer, payload: number, end: number): string {
  const c = readBoxes(buf, payload + 78, end).find((b) => b.type === 'avcC');
  if (!c || c.end - c.payload < 4) return 'avc1';
  return `avc1.${hex2(buf[c.payload + 1]!)}${hex2(buf[c.payload + 2]!)}${hex2(buf[c.payload + 3]!)}`;
}

function hvc1(type: string, buf: Buffer, payload: number, end: number): string {
  const c = readBoxes(buf, payload + 78, end).find((b) => b.type === 'hvcC');
  if (!c || c.end - c.payload < 13) return type;
  const p = c.payload;
  const b1 = buf[p + 1]!;
  const space = ['', 'A', 'B', 'C'][b1 >> 6]!;
  const tier = (b1 >> 5) & 1 ? 'H' : 'L';
  const profile = b1 & 0x1f;
  const compat = buf.readUInt32BE(p + 2);
  let reversed = 0;
  for (let j = 0; j < 32; j++) if ((compat >>> j) & 1) reversed |= 1 << (31 - j);
  const level = buf[p + 12]!;
  const constraints = [...buf.subarray(p + 6, p + 12)];
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const tail = constraints.map((x) => `.${x.toString(16)}`).join('');
  return `${type}.${space}${profile}.${(reversed >>> 0).toString(16)}.${tier}${level}${tail}`;
}

/** Reads an expandable descriptor size (ISO/IEC 14496-1 §8.3.3). */
function descriptorAt(buf: Buffer, off: number, end: number): { tag: number; body: number; end: number } | undefined {
  if (off >= end) return undefined;
  const tag = buf[off]!;
  let size = 0;
  let i = off + 1;
  for (let n = 0; n < 4 && i < end; n++, i++) {
    size = (size << 7) | (buf[i]! & 0x7f);
    if (!(buf[i]! & 0x80)) {
      i++;
      break;
    }
  }
  if (i + size > end) return undefined;
  return { tag, body: i, end: i + size };
}

function mp4a(buf: Buffer, payload: number, end: number): string {
  const e = readBoxes(buf, payload + 28, end).find((b) => b.type === 'esds');
  if (!e) return 'mp4a';
  const es = descriptorAt(buf, e.payload + 4, e.end); // after version/flags
  if (!es || es.tag !== 0x03) return 'mp4a';
  const esFlags = buf[es.body + 2]!;
  let off = es.body + 3;
  if (esFlags & 0x80) off += 2; // dependsOn_ES_ID
  if (esFlags & 0x40) off += 1 + buf[off]!; // URL
  if (esFlags & 0x20) off += 2; // OCR_ES_Id
  const dc = descriptorAt(buf, off, es.end);
  if (!dc || dc.tag !== 0x04) return 'mp4a';
  const oti = buf[dc.body]!;
  const dsi = descriptorAt(buf, dc.body + 13, dc.end);
  if (!dsi || dsi.tag !== 0x05 || dsi.end <= dsi.body) return `mp4a.${hex2(oti)}`;
  let aot = buf[dsi.body]! >> 3;
  if (aot === 31 && dsi.end - dsi.body >= 2) aot = 32 + (((buf[dsi.body]! & 7) << 3) | (buf[dsi.body + 1]! >> 5));
  return `mp4a.${hex2(oti)}.${aot}`;
}

/** The codec string of every track of an init segment, in trak order. */
export function codecStringsFromInit(init: Buffer): string[] {
  const moov = findBox(init, ['moov']);
  if (!moov) return [];
  const out: string[] = [];
  for (const trak of readBoxes(init, moov.payload, moov.end).filter((b) => b.type === 'trak')) {
    const stsd = findBox(init, ['mdia', 'minf', 'stbl', 'stsd'], trak.payload, trak.end);
    if (!stsd) continue;
    const entry = readBoxes(init, stsd.payload + 8, stsd.end)[0]; // after version/flags + entry_count
    if (!entry) continue;
    switch (entry.type) {
      case 'avc1':
      case 'avc3':
        out.push(avc1(init, entry.payload, entry.end).replace(/^avc1/, entry.type));
        break;
      case 'hvc1':
      case 'hev1':
        out.push(hvc1(entry.type, init, entry.payload, entry.end));
        break;
      case 'mp4a':
        out.push(mp4a(init, entry.payload, entry.end));
        break;
      case 'Opus':
        out.push('opus');
        break;
      default:
        out.push(entry.type);
    }
  }
  return out;
}
