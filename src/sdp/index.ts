/**
 * SDP (RFC 8866, formerly RFC 4566) as sent by IP cameras in DESCRIBE responses, turned into typed
 * media descriptions. Forgiving by design (QUIRKS Q32/Q33): the text is pre-cleaned line by line and
 * parsed by our own line parser, because camera SDPs are routinely outside the grammar that
 * sdp-transform expects (it silently drops lines it cannot match). Unknown media sections are
 * skipped with a reason, never fatal.
 */
import { ok, err } from '../util/result.ts';
import type { Result } from '../util/result.ts';
import { cleanSdpLines, MAX_SKIPPED } from './clean.ts';
import type { SdpLine } from './clean.ts';
import { STATIC_PAYLOAD_TYPES } from './static.ts';

export { STATIC_PAYLOAD_TYPES } from './static.ts';
export type { StaticPayload } from './static.ts';

export type SdpDirection = 'sendonly' | 'recvonly' | 'sendrecv' | 'inactive';

export interface SdpConnection {
  address: string;
  ttl?: number;
}

export interface SdpMedia {
  /** m= media type as written ('video', 'audio', 'application', 'metadata', …). */
  type: string;
  kind: 'video' | 'audio' | 'application';
  port: number;
  protocol: string;
  /** All payload types on the m= line. */
  payloadTypes: number[];
  /** The first one we can use. */
  payloadType: number;
  /** Upper-case encoding name from rtpmap, else from the RFC 3551 static table. */
  encoding: string;
  clockRate: number;
  channels?: number;
  /** fmtp parameters of `payloadType`; keys lower-cased, values trimmed. */
  fmtp: Record<string, string>;
  control?: string;
  direction?: SdpDirection;
  connection?: SdpConnection;
  framerate?: number;
  dimensions?: { width: number; height: number };
}

export interface SessionDescription {
  control?: string;
  origin?: string;
  name?: string;
  connection?: SdpConnection;
  medias: SdpMedia[];
  skipped: string[];
  warnings: string[];
}

interface Rtpmap {
  pt: number;
  name: string;
  clockRate?: number;
  channels?: number;
}

interface Fmtp {
  pt: number;
  params: Record<string, string>;
}

interface Section {
  mline: string;
  lines: SdpLine[];
}

const DIRECTIONS: ReadonlySet<string> = new Set(['sendonly', 'recvonly', 'sendrecv', 'inactive']);

/** Parse `a=fmtp` parameters: `k=v; k=v;` with case-insensitive keys (Q40 `sizeLength`, trailing `;`). */
export function parseFmtpParams(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  let parts = text.split(';');
  // Geovision metadata: `DecoderTag=h3c-v3 RTCP=0` separates parameters with spaces instead of ';'.
  if (parts.length === 1 && /^\S+=\S*(\s+\S+=\S*)+$/.test(text.trim())) parts = text.trim().split(/\s+/);
  for (const part of parts) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    if (!key || key === '__proto__') continue;
    params[key] = eq < 0 ? '' : p.slice(eq + 1).trim();
  }
  return params;
}

/** Parse a `c=` value, repairing the broken forms in Q32 (`c=IN`, `c=IN c=IN IP4 x`, `c=IN 1.2.3.4`). */
export function parseConnection(value: string): { connection?: SdpConnection; repaired: boolean } {
  const tokens = value.trim().split(/\s+/).filter(Boolean);
  let addr: string | undefined;
  let ipv4 = true;
  const standard = tokens.length === 3 && tokens[0].toUpperCase() === 'IN' && /^IP[46]$/i.test(tokens[1]);
  if (standard) {
    addr = tokens[2];
    ipv4 = tokens[1].toUpperCase() === 'IP4';
  } else {
    let ipIdx = -1;
    tokens.forEach((t, i) => {
      if (/^IP[46]$/i.test(t)) ipIdx = i;
    });
    if (ipIdx >= 0 && ipIdx + 1 < tokens.length) {
      addr = tokens[ipIdx + 1];
      ipv4 = tokens[ipIdx].toUpperCase() === 'IP4';
    } else {
      for (let i = tokens.length - 1; i >= 0; i--) {
        const t = tokens[i];
        if (/^\d{1,3}(\.\d{1,3}){3}(\/\d+){0,2}$/.test(t)) {
          addr = t;
          break;
        }
        if (/^[0-9a-f:]+:[0-9a-f:]*$/i.test(t)) {
          addr = t;
          ipv4 = false;
          break;
        }
      }
    }
  }
  if (!addr) return { repaired: true };
  const parts = addr.split('/');
  const connection: SdpConnection = { address: parts[0] };
  if (ipv4 && parts.length > 1) {
    const ttl = Number(parts[1]);
    if (Number.isInteger(ttl) && ttl >= 0 && ttl <= 255) connection.ttl = ttl;
  }
  return { connection, repaired: !standard };
}

function parseRtpmap(value: string): Rtpmap | undefined {
  const m = /^(\d{1,3})\s+(.+)$/.exec(value.trim());
  if (!m) return undefined;
  const pt = Number(m[1]);
  if (pt > 127) return undefined;
  const [name, rate, ch] = m[2].trim().split('/');
  if (!name) return undefined;
  const r: Rtpmap = { pt, name: name.trim() };
  const clockRate = Number(rate);
  if (rate !== undefined && Number.isInteger(clockRate) && clockRate > 0) r.clockRate = clockRate;
  const channels = Number(ch);
  if (ch !== undefined && Number.isInteger(channels) && channels > 0 && channels <= 255) r.channels = channels;
  return r;
}

function splitAttribute(value: string): { name: string; value: string } {
  const colon = value.indexOf(':');
  if (colon < 0) return { name: value.trim().toLowerCase(), value: '' };
  return { name: value.slice(0, colon).trim().toLowerCase(), value: value.slice(colon + 1).trim() };
}

/** Never throws. Error only when no m= section can be found at all. */
export function parseSdp(text: string | Buffer): Result<SessionDescription> {
  try {
    return parseSdpInner(text);
  } catch (e) {
    // Defensive only: the parser is written not to throw, but a socket handler must never see one.
    return err(`SDP parser failure: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function parseSdpInner(text: string | Buffer): Result<SessionDescription> {
  const warnings: string[] = [];
  const skipped: string[] = [];
  const warn = (w: string) => {
    if (!warnings.includes(w)) warnings.push(w);
  };
  const lines = cleanSdpLines(text, warnings, skipped);

  const sessionLines: SdpLine[] = [];
  const sections: Section[] = [];
  for (const l of lines) {
    if (l.type === 'm') sections.push({ mline: l.value, lines: [] });
    else if (sections.length === 0) sessionLines.push(l);
    else sections[sections.length - 1].lines.push(l);
  }
  if (sections.length === 0) return err('SDP has no m= section');

  // Missing header lines are harmless for RTSP; note them for `camgate probe` (Q32).
  for (const t of ['v', 'o', 's', 't']) {
    if (!sessionLines.some((l) => l.type === t)) warn(`missing ${t}= line`);
  }

  const session: SessionDescription = { medias: [], skipped, warnings };
  let sessionDirection: SdpDirection | undefined;
  for (const l of sessionLines) {
    if (l.type === 'o' && session.origin === undefined) session.origin = l.value.trim();
    else if (l.type === 's' && session.name === undefined) session.name = l.value.trim();
    else if (l.type === 'c') {
      const c = parseConnection(l.value);
      if (c.repaired) warn('broken c= line');
      if (c.connection) session.connection = c.connection;
    } else if (l.type === 'a') {
      const a = splitAttribute(l.value);
      if (a.name === 'control') session.control = a.value;
      else if (DIRECTIONS.has(a.name)) sessionDirection = a.name as SdpDirection;
    }
  }

  for (const sec of sections) {
    const media = parseMedia(sec, session, sessionDirection, warn, skipped);
    if (media) session.medias.push(media);
  }
  if (skipped.length > MAX_SKIPPED) skipped.length = MAX_SKIPPED;
  return ok(session);
}

function parseMedia(
  sec: Section,
  session: SessionDescription,
  sessionDirection: SdpDirection | undefined,
  warn: (w: string) => void,
  skipped: string[],
): SdpMedia | undefined {
  const skip = (why: string) => {
    if (skipped.length < MAX_SKIPPED) skipped.push(`m=${sec.mline.slice(0, 80)}: ${why}`);
    return undefined;
  };
  const tokens = sec.mline.trim().split(/\s+/);
  if (tokens.length < 4) return skip('malformed m= line');
  const [type, portTok, protocol, ...fmts] = tokens;
  if (!/RTP\//i.test(protocol)) return skip(`not an RTP transport (${protocol})`);
  const port = Number.parseInt(portTok, 10);
  if (!Number.isFinite(port) || port < 0 || port > 65535) warn('bad m= port');

  const payloadTypes: number[] = [];
  for (const f of fmts) {
    if (/^\d{1,3}$/.test(f) && Number(f) <= 127) payloadTypes.push(Number(f));
  }
  // TP-Link/Mercury: `m=application/TP-LINK 0 RTP/AVP smart/1/90000` has no numeric format (Q33)
  if (payloadTypes.length === 0) return skip(`no RTP payload type (${fmts.join(' ')})`);

  const lowerType = type.toLowerCase();
  const kind: SdpMedia['kind'] = lowerType === 'video' ? 'video' : lowerType === 'audio' ? 'audio' : 'application';

  const rtpmaps: Rtpmap[] = [];
  const fmtps: Fmtp[] = [];
  let control: string | undefined;
  let direction: SdpDirection | undefined;
  let connection: SdpConnection | undefined;
  let framerate: number | undefined;
  let dimensions: { width: number; height: number } | undefined;
  let clipDimensions: { width: number; height: number } | undefined;
  const fmtpBeforeRtpmap = new Set<number>();

  for (const l of sec.lines) {
    if (l.type === 'c') {
      const c = parseConnection(l.value);
      if (c.repaired) warn('broken c= line');
      if (c.connection) connection = c.connection;
      continue;
    }
    if (l.type !== 'a') continue;
    const a = splitAttribute(l.value);
    switch (a.name) {
      case 'rtpmap': {
        const r = parseRtpmap(a.value);
        if (!r) {
          warn('malformed rtpmap ignored');
          break;
        }
        rtpmaps.push(r);
        if (fmtpBeforeRtpmap.has(r.pt)) warn('fmtp before rtpmap');
        break;
      }
      case 'fmtp': {
        const m = /^(\d{1,3})(?:\s+(.*))?$/.exec(a.value);
        if (!m) {
          warn('malformed fmtp ignored');
          break;
        }
        const pt = Number(m[1]);
        const params = parseFmtpParams(m[2] ?? '');
        // Ubiquiti: `a=fmtp:96` with no parameters (Q32)
        if (Object.keys(params).length === 0) warn('fmtp without parameters');
        if (!rtpmaps.some((r) => r.pt === pt)) fmtpBeforeRtpmap.add(pt);
        fmtps.push({ pt, params });
        break;
      }
      case 'control':
        control = a.value;
        break;
      case 'sendonly':
      case 'recvonly':
      case 'sendrecv':
      case 'inactive':
        direction = a.name;
        break;
      case 'framerate':
      case 'x-framerate': {
        // H264DVR: `a=framerate:0S` is garbage: keep a later valid value instead
        const f = Number.parseFloat(a.value);
        if (Number.isFinite(f) && f > 0 && f <= 1000) framerate = f;
        break;
      }
      case 'x-dimensions': {
        const m = /^(\d{1,5})\s*[,x]\s*(\d{1,5})/.exec(a.value);
        if (m && Number(m[1]) > 0 && Number(m[2]) > 0) dimensions = { width: Number(m[1]), height: Number(m[2]) };
        break;
      }
      case 'framesize': {
        const m = /^\d{1,3}\s+(\d{1,5})-(\d{1,5})/.exec(a.value);
        if (m && Number(m[1]) > 0 && Number(m[2]) > 0) dimensions = { width: Number(m[1]), height: Number(m[2]) };
        break;
      }
      case 'cliprect': {
        // top,left,bottom,right (QuickTime/Wowza)
        const m = /^(\d{1,5}),(\d{1,5}),(\d{1,5}),(\d{1,5})/.exec(a.value);
        if (m) {
          const width = Number(m[4]) - Number(m[2]);
          const height = Number(m[3]) - Number(m[1]);
          if (width > 0 && height > 0) clipDimensions = { width, height };
        }
        break;
      }
      default:
        break;
    }
  }

  const orphanRtpmaps = rtpmaps.filter((r) => !payloadTypes.includes(r.pt));
  let chosen: { pt: number; encoding: string; clockRate?: number; channels?: number } | undefined;
  for (const pt of payloadTypes) {
    const st = STATIC_PAYLOAD_TYPES.get(pt);
    const maps = rtpmaps.filter((r) => r.pt === pt);
    if (maps.length > 0) {
      let r = maps[0];
      if (maps.length > 1) {
        // go2rtc#1426: two rtpmaps for one PT; prefer the one agreeing with the static table (Q33)
        warn('duplicate rtpmap');
        r = maps.find((x) => st && x.name.toUpperCase() === st.encoding) ?? r;
      }
      const encoding = r.name.toUpperCase();
      // GW Security: `m=audio 0 RTP/AVP 8` + `a=rtpmap:8 PCMU/8000/1` — the rtpmap wins, as in retina (Q42)
      if (st && encoding !== st.encoding) warn(`rtpmap ${pt} ${encoding} overrides static payload type ${st.encoding}`);
      chosen = {
        pt,
        encoding,
        clockRate: r.clockRate ?? (st && st.encoding === encoding ? st.clockRate : undefined),
        channels: r.channels ?? (st && st.encoding === encoding ? st.channels : undefined),
      };
      break;
    }
    if (st) {
      // Missing rtpmap on a static PT (Foscam PT 0, H264DVR PT 8, Q42), or an rtpmap under another PT
      // (`m=audio 0 RTP/AVP 8` + `a=rtpmap:0 pcma/8000/1`, WebRTC#419, Q33).
      chosen = { pt, encoding: st.encoding, clockRate: st.clockRate, channels: st.channels };
      if (orphanRtpmaps.length > 0) warn('rtpmap payload type does not match m= line');
      const same = orphanRtpmaps.find((r) => r.name.toUpperCase() === st.encoding);
      if (same) {
        chosen.clockRate = same.clockRate ?? st.clockRate;
        chosen.channels = same.channels ?? st.channels;
      }
      break;
    }
  }
  if (!chosen && payloadTypes.length === 1 && orphanRtpmaps.length === 1) {
    // dynamic PT on the m= line but the only rtpmap names another PT
    warn('rtpmap payload type does not match m= line');
    const r = orphanRtpmaps[0];
    chosen = { pt: payloadTypes[0], encoding: r.name.toUpperCase(), clockRate: r.clockRate, channels: r.channels };
  }
  if (!chosen) return skip(`no rtpmap for payload type ${payloadTypes.join(',')} and not a static payload type`);

  let fmtp = fmtps.find((f) => f.pt === chosen.pt)?.params;
  if (!fmtp && fmtps.length === 1 && !payloadTypes.includes(fmtps[0].pt)) {
    // mediamtx#3590: `a=rtpmap:97 MP4A-LATM/…` + `a=fmtp:40 …` — the only fmtp belongs to it (Q41)
    warn('fmtp payload type does not match rtpmap');
    fmtp = fmtps[0].params;
  }
  fmtp ??= {};

  let clockRate = chosen.clockRate;
  let channels = chosen.channels;
  if (chosen.encoding === 'OPUS') {
    // RFC 7587: the RTP clock is always 48 kHz; cameras write OPUS/48000/1 or /16000 (Q43)
    if (clockRate !== 48000) warn('Opus clock rate forced to 48000');
    clockRate = 48000;
    if (fmtp['sprop-stereo'] === '1') channels = 2;
    else if (fmtp['sprop-stereo'] === '0') channels = 1;
    else channels ??= 2;
  }
  if (clockRate === undefined) {
    warn('rtpmap without clock rate');
    clockRate = kind === 'audio' ? 8000 : 90000;
  }
  if (kind === 'audio' && channels === undefined && chosen.encoding !== 'MPA') channels = 1;

  const media: SdpMedia = {
    type,
    kind,
    port: Number.isFinite(port) && port >= 0 && port <= 65535 ? port : 0,
    protocol,
    payloadTypes,
    payloadType: chosen.pt,
    encoding: chosen.encoding,
    clockRate,
    fmtp,
  };
  if (channels !== undefined) media.channels = channels;
  if (control !== undefined) media.control = control;
  direction ??= sessionDirection;
  if (direction !== undefined) media.direction = direction;
  connection ??= session.connection;
  if (connection !== undefined) media.connection = connection;
  if (framerate !== undefined) media.framerate = framerate;
  dimensions ??= clipDimensions;
  if (dimensions !== undefined) media.dimensions = dimensions;
  return media;
}

/**
 * Q34: a backchannel is sendonly audio while at least one non-sendonly media exists; if ALL medias are
 * sendonly, the server simply labelled its own direction and none is a backchannel (mediamtx#5074).
 */
export function isBackchannel(media: SdpMedia, session: SessionDescription): boolean {
  if (media.kind !== 'audio' || media.direction !== 'sendonly') return false;
  return session.medias.some((m) => m.direction !== 'sendonly');
}

export interface BuildSdpMedia {
  kind: 'video' | 'audio';
  payloadType: number;
  encoding: string;
  clockRate: number;
  channels?: number;
  fmtp?: Record<string, string>;
  control: string;
}

/** Strip anything that could end an SDP line early or inject another one. */
const oneLine = (s: string): string => s.replace(/[\r\n\0]/g, ' ').trim();

/** Build a minimal, RFC 8866-correct SDP (CRLF line endings) for the restream server. */
export function buildSdp(opts: { sessionName: string; origin?: string; medias: BuildSdpMedia[] }): string {
  const lines: string[] = [
    'v=0',
    `o=${opts.origin ? oneLine(opts.origin) : '- 0 0 IN IP4 127.0.0.1'}`,
    `s=${oneLine(opts.sessionName) || '-'}`,
    'c=IN IP4 0.0.0.0',
    't=0 0',
    'a=tool:camgate',
    'a=control:*',
  ];
  for (const m of opts.medias) {
    const pt = m.payloadType & 0x7f;
    lines.push(`m=${m.kind} 0 RTP/AVP ${pt}`);
    const encoding = oneLine(m.encoding);
    let rtpmap = `${encoding}/${m.clockRate}`;
    // RFC 7587: Opus is always advertised as opus/48000/2
    if (encoding.toUpperCase() === 'OPUS') rtpmap = `${encoding}/48000/2`;
    else if (m.kind === 'audio' && m.channels !== undefined && m.channels > 1) rtpmap += `/${m.channels}`;
    lines.push(`a=rtpmap:${pt} ${rtpmap}`);
    const params = Object.entries(m.fmtp ?? {})
      .map(([k, v]) => (v === '' ? oneLine(k) : `${oneLine(k)}=${oneLine(v)}`))
      .filter(Boolean);
    if (params.length > 0) lines.push(`a=fmtp:${pt} ${params.join(';')}`);
    lines.push(`a=control:${oneLine(m.control)}`);
  }
  return lines.join('\r\n') + '\r\n';
}
