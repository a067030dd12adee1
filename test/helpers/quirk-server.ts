// QuirkServer (QUIRKS.md §0.1): a scripted fake RTSP server on 127.0.0.1 for camera-quirk regression
// tests. It is the *independent* peer of camgate's RTSP client, so it must not import camgate code.
// Replies are raw strings/Buffers written byte for byte, so malformed syntax (LF-only line endings,
// missing CSeq, odd spacing, wrong Content-Length) can be produced on purpose.
import net from 'node:net';
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const HOST = '127.0.0.1';
/** Guards against a client (or a test bug) making the server buffer without bound. */
const MAX_HEADER_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_RECORDED = 1000;

export interface QsRequest {
  method: string;
  uri: string;
  /** lower-case keys, first value */
  headers: Record<string, string>;
  rawHeaders: [string, string][];
  /** request line + headers exactly as received (without the body) */
  raw: string;
  body: Buffer;
  connectionId: number;
}

export interface QsContext {
  socket: net.Socket;
  connectionId: number;
  /** requests received on this connection, in order */
  requests: QsRequest[];
  /** free-form per-connection scenario state */
  state: Record<string, unknown>;
  /** send an RTSP interleaved frame ('$', channel, 16-bit length, payload; RFC 2326 §10.12) */
  interleaved(ch: number, payload: Buffer): void;
  write(data: string | Buffer): void;
  /**
   * UDP send to the client's RTP (or RTCP) port given in `client_port` of this connection's SETUP
   * number `track` (0-based, in SETUP order). Returns false when that SETUP had no client_port.
   */
  sendUdp(track: number, payload: Buffer, rtcp?: boolean): boolean;
  /** the server's own UDP ports, for `server_port=` in SETUP replies; media is sent from them */
  serverPorts: [number, number];
  /** interleaved frames the client sent (e.g. RTCP receiver reports), most recent MAX_RECORDED */
  interleavedIn: { channel: number; payload: Buffer }[];
}

export type QsHandler = (
  req: QsRequest,
  ctx: QsContext,
) => string | Buffer | null | void | Promise<string | Buffer | null | void>;

export interface QuirkServer {
  port: number;
  url(path?: string): string;
  /** every request on every connection, in arrival order */
  requests: QsRequest[];
  /** number of TCP connections accepted so far */
  connections: number;
  /** UDP ports the server sends media from and listens on (RTP, RTCP) */
  udpPorts: [number, number];
  /** UDP datagrams received on udpPorts (client RTCP, NAT punch packets), most recent MAX_RECORDED */
  udpReceived: { port: 'rtp' | 'rtcp'; from: number; data: Buffer }[];
  /** exceptions thrown by the handler (the client got a 500 for each) */
  errors: unknown[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Request parsing

type ParseOutcome =
  | { kind: 'need-more' }
  | { kind: 'fatal'; reason: string }
  | { kind: 'interleaved'; channel: number; payload: Buffer; consumed: number }
  | { kind: 'request'; req: Omit<QsRequest, 'connectionId'>; consumed: number }
  | { kind: 'skip'; consumed: number };

function findHeaderEnd(buf: Buffer): { end: number; sepLen: number } | null {
  // Accept CRLFCRLF and bare LFLF (some clients, and our own LF-only tests).
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return null;
  if (lf >= 0 && (crlf < 0 || lf < crlf)) return { end: lf, sepLen: 2 };
  return { end: crlf, sepLen: 4 };
}

/** Parse one item (interleaved frame or request) from the front of `buf`. Exported for unit tests. */
export function parseOne(buf: Buffer): ParseOutcome {
  if (buf.length === 0) return { kind: 'need-more' };
  if (buf[0] === 0x24) {
    if (buf.length < 4) return { kind: 'need-more' };
    const len = buf.readUInt16BE(2);
    if (buf.length < 4 + len) return { kind: 'need-more' };
    return { kind: 'interleaved', channel: buf[1]!, payload: Buffer.from(buf.subarray(4, 4 + len)), consumed: 4 + len };
  }
  // Stray line endings between messages (keep-alive CRLFs) are not requests.
  if (buf[0] === 0x0d || buf[0] === 0x0a) {
    let i = 0;
    while (i < buf.length && (buf[i] === 0x0d || buf[i] === 0x0a)) i++;
    return { kind: 'skip', consumed: i };
  }
  const he = findHeaderEnd(buf);
  if (!he) {
    return buf.length > MAX_HEADER_BYTES ? { kind: 'fatal', reason: 'header too large' } : { kind: 'need-more' };
  }
  if (he.end > MAX_HEADER_BYTES) return { kind: 'fatal', reason: 'header too large' };
  const raw = buf.subarray(0, he.end).toString('latin1');
  const lines = raw.split(/\r?\n/);
  const requestLine = lines[0] ?? '';
  const m = /^(\S+)[ \t]+(\S+)/.exec(requestLine);
  const rawHeaders: [string, string][] = [];
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = (colon >= 0 ? line.slice(0, colon) : line).trim();
    const value = colon >= 0 ? line.slice(colon + 1).trim() : '';
    rawHeaders.push([name, value]);
    const key = name.toLowerCase();
    if (!(key in headers)) headers[key] = value;
  }
  const clText = headers['content-length'];
  const contentLength = clText !== undefined && /^\d+$/.test(clText) ? Number(clText) : 0;
  if (contentLength > MAX_BODY_BYTES) return { kind: 'fatal', reason: 'body too large' };
  const bodyStart = he.end + he.sepLen;
  if (buf.length < bodyStart + contentLength) return { kind: 'need-more' };
  return {
    kind: 'request',
    req: {
      method: m ? m[1]! : '',
      uri: m ? m[2]! : '',
      headers,
      rawHeaders,
      raw,
      body: Buffer.from(buf.subarray(bodyStart, bodyStart + contentLength)),
    },
    consumed: bodyStart + contentLength,
  };
}

/** Parse `client_port=a-b` (or `client_port=a`) from a Transport header. */
export function parseClientPorts(transport: string | undefined): [number, number] | null {
  if (!transport) return null;
  const m = /(?:^|;)\s*client_port\s*=\s*(\d+)(?:\s*-\s*(\d+))?/i.exec(transport);
  if (!m) return null;
  const rtp = Number(m[1]);
  const rtcp = m[2] !== undefined ? Number(m[2]) : rtp + 1;
  if (!(rtp > 0 && rtp < 65536 && rtcp > 0 && rtcp < 65536)) return null;
  return [rtp, rtcp];
}

// ---------------------------------------------------------------------------------------------
// Server

function bindUdp(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const onErr = (e: Error) => {
      s.close();
      reject(e);
    };
    s.once('error', onErr);
    s.bind(port, HOST, () => {
      s.off('error', onErr);
      s.on('error', () => {}); // ICMP port unreachable etc. must not crash the test worker
      resolve(s);
    });
  });
}

async function bindUdpPair(): Promise<[dgram.Socket, dgram.Socket]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = await bindUdp(0);
    const p = a.address().port;
    if (p % 2 === 0) {
      try {
        return [a, await bindUdp(p + 1)];
      } catch {
        a.close();
        continue;
      }
    }
    a.close();
    try {
      const rtp = await bindUdp(p - 1);
      try {
        return [rtp, await bindUdp(p)];
      } catch {
        rtp.close();
      }
    } catch {
      // taken; try again
    }
  }
  throw new Error('QuirkServer: cannot bind an even/odd UDP port pair');
}

function pushBounded<T>(arr: T[], item: T): void {
  arr.push(item);
  if (arr.length > MAX_RECORDED) arr.splice(0, arr.length - MAX_RECORDED);
}

/** Start a scripted RTSP server: `handler` is called for each request, in order, per connection. */
export async function startQuirkServer(handler: QsHandler): Promise<QuirkServer> {
  const [udpRtp, udpRtcp] = await bindUdpPair();
  const udpPorts: [number, number] = [udpRtp.address().port, udpRtcp.address().port];
  const sockets = new Set<net.Socket>();
  let nextConnectionId = 1;

  const qs: QuirkServer = {
    port: 0,
    url: (p = '/') => `rtsp://${HOST}:${qs.port}${p.startsWith('/') ? p : `/${p}`}`,
    requests: [],
    connections: 0,
    udpPorts,
    udpReceived: [],
    errors: [],
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([udpRtp, udpRtcp].map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };

  udpRtp.on('message', (data, rinfo) => pushBounded(qs.udpReceived, { port: 'rtp', from: rinfo.port, data }));
  udpRtcp.on('message', (data, rinfo) => pushBounded(qs.udpReceived, { port: 'rtcp', from: rinfo.port, data }));

  const server = net.createServer((socket) => {
    sockets.add(socket);
    qs.connections++;
    const connectionId = nextConnectionId++;
    const setups: ([number, number] | null)[] = [];
    const peer = socket.remoteAddress ?? HOST;
    socket.setNoDelay(true);
    socket.on('error', () => {}); // client resets are part of several scenarios

    const ctx: QsContext = {
      socket,
      connectionId,
      requests: [],
      state: {},
      serverPorts: udpPorts,
      interleavedIn: [],
      write(data) {
        if (!socket.destroyed && socket.writable) socket.write(data);
      },
      interleaved(ch, payload) {
        // The 16-bit length field cannot describe more; a test asking for it is a bug, not a quirk.
        if (payload.length > 0xffff) throw new RangeError(`interleaved payload ${payload.length} > 65535`);
        const head = Buffer.from([0x24, ch & 0xff, payload.length >> 8, payload.length & 0xff]);
        ctx.write(Buffer.concat([head, payload]));
      },
      sendUdp(track, payload, rtcp = false) {
        const ports = setups[track];
        if (!ports) return false;
        (rtcp ? udpRtcp : udpRtp).send(payload, rtcp ? ports[1] : ports[0], peer);
        return true;
      },
    };

    let buf: Buffer = Buffer.alloc(0);
    let chain: Promise<void> = Promise.resolve();

    const handle = async (req: QsRequest) => {
      if (socket.destroyed) return;
      try {
        const out = await handler(req, ctx);
        if (out !== null && out !== undefined) ctx.write(out);
      } catch (e) {
        qs.errors.push(e);
        ctx.write(reply(req, 500, {}, undefined, { reason: 'Internal Server Error (QuirkServer handler threw)' }));
      }
    };

    socket.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        const r = parseOne(buf);
        if (r.kind === 'need-more') break;
        if (r.kind === 'fatal') {
          socket.destroy();
          buf = Buffer.alloc(0);
          return;
        }
        buf = buf.subarray(r.consumed);
        if (r.kind === 'interleaved') {
          pushBounded(ctx.interleavedIn, { channel: r.channel, payload: r.payload });
        } else if (r.kind === 'request') {
          const req: QsRequest = { ...r.req, connectionId };
          if (req.method.toUpperCase() === 'SETUP') setups.push(parseClientPorts(req.headers['transport']));
          ctx.requests.push(req);
          qs.requests.push(req);
          // Handlers may be async; keep replies in request order.
          chain = chain.then(() => handle(req));
        }
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  qs.port = typeof addr === 'object' && addr ? addr.port : 0;
  return qs;
}

// ---------------------------------------------------------------------------------------------
// Reply and packet builders

const REASONS: Record<number, string> = {
  100: 'Continue',
  200: 'OK',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  451: 'Parameter Not Understood',
  454: 'Session Not Found',
  455: 'Method Not Valid in This State',
  457: 'Invalid Range',
  459: 'Aggregate Operation Not Allowed',
  460: 'Only Aggregate Operation Allowed',
  461: 'Unsupported Transport',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'RTSP Version Not Supported',
};

/**
 * Build `RTSP/1.0 <code> <reason>`, `CSeq: <request's CSeq>`, the given headers (array value = header
 * repeated), Content-Length when there is a body, blank line, body. Passing a `CSeq` header overrides
 * the echoed one; `CSeq: []` omits it. `eol: '\n'` produces LF-only line endings.
 */
export function reply(
  req: QsRequest,
  code: number,
  headers: Record<string, string | string[]> = {},
  body?: string,
  opts: { eol?: '\r\n' | '\n'; reason?: string; noContentLength?: boolean } = {},
): string {
  const eol = opts.eol ?? '\r\n';
  const lines = [`RTSP/1.0 ${code} ${opts.reason ?? REASONS[code] ?? 'Status'}`];
  const hasCSeq = Object.keys(headers).some((k) => k.toLowerCase() === 'cseq');
  if (!hasCSeq && req.headers['cseq'] !== undefined) lines.push(`CSeq: ${req.headers['cseq']}`);
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  const hasLength = Object.keys(headers).some((k) => k.toLowerCase() === 'content-length');
  if (body !== undefined && body.length > 0 && !opts.noContentLength && !hasLength) {
    lines.push(`Content-Length: ${Buffer.byteLength(body, 'utf8')}`);
  }
  return lines.join(eol) + eol + eol + (body ?? '');
}

/** RTP fixed header (RFC 3550 §5.1), version 2, no padding/extension/CSRC, followed by payload. */
export function rtpPacket(pt: number, seq: number, ts: number, ssrc: number, marker: boolean, payload: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, payload]);
}

/** RTCP sender report without report blocks (RFC 3550 §6.4.1). */
export function rtcpSenderReport(ssrc: number, ntpMs: number, rtpTs: number, packets: number, octets: number): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(6, 2); // length in 32-bit words minus one
  b.writeUInt32BE(ssrc >>> 0, 4);
  const ntpSeconds = Math.floor(ntpMs / 1000) + 2_208_988_800; // NTP epoch is 1900
  const frac = Math.floor(((ntpMs % 1000) / 1000) * 0x1_0000_0000);
  b.writeUInt32BE(ntpSeconds >>> 0, 8);
  b.writeUInt32BE(frac >>> 0, 12);
  b.writeUInt32BE(rtpTs >>> 0, 16);
  b.writeUInt32BE(packets >>> 0, 20);
  b.writeUInt32BE(octets >>> 0, 24);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Authorization checks

/** Parse `Digest k=v, k="v"` parameters (quoted-string with backslash escapes, RFC 7616 §3.4). */
export function parseAuthParams(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\S+)\s*/.exec(header);
  const scheme = m ? m[1]! : '';
  const params: Record<string, string> = {};
  let i = m ? m[0].length : 0;
  const s = header;
  while (i < s.length) {
    while (i < s.length && (s[i] === ',' || s[i] === ' ' || s[i] === '\t')) i++;
    const eq = s.indexOf('=', i);
    if (eq < 0) break;
    const key = s.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i];
        i++;
      }
      i++; // closing quote
    } else {
      const end = s.indexOf(',', i);
      value = (end < 0 ? s.slice(i) : s.slice(i, end)).trim();
      i = end < 0 ? s.length : end;
    }
    if (key && !(key in params)) params[key] = value;
  }
  return { scheme, params };
}

function authorizationHeaders(req: QsRequest): string[] {
  return req.rawHeaders.filter(([n]) => n.toLowerCase() === 'authorization').map(([, v]) => v);
}

/**
 * Verify a Digest Authorization (RFC 2617 / RFC 7616): both the qop=auth form and the legacy
 * no-qop form. `uri` must equal the request-line URI byte for byte (cameras compare it literally).
 */
export function digestCheck(
  req: QsRequest,
  user: string,
  pass: string,
  realm: string,
  nonce: string,
  algorithm: 'MD5' | 'SHA-256' = 'MD5',
): boolean {
  const hashName = algorithm === 'SHA-256' ? 'sha256' : 'md5';
  const H = (s: string) => crypto.createHash(hashName).update(s, 'utf8').digest('hex');
  for (const header of authorizationHeaders(req)) {
    const { scheme, params: p } = parseAuthParams(header);
    if (scheme.toLowerCase() !== 'digest') continue;
    if (p['username'] !== user || p['realm'] !== realm || p['nonce'] !== nonce) continue;
    if (p['uri'] !== req.uri) continue;
    const alg = p['algorithm'];
    if (alg !== undefined && alg.toUpperCase() !== algorithm) continue;
    if (alg === undefined && algorithm !== 'MD5') continue; // absent algorithm means MD5
    const ha1 = H(`${user}:${realm}:${pass}`);
    const ha2 = H(`${req.method}:${p['uri']}`);
    let expected: string;
    if (p['qop'] !== undefined) {
      if (p['qop'].toLowerCase() !== 'auth' || !p['nc'] || p['cnonce'] === undefined) continue;
      expected = H(`${ha1}:${nonce}:${p['nc']}:${p['cnonce']}:${p['qop']}:${ha2}`);
    } else {
      expected = H(`${ha1}:${nonce}:${ha2}`);
    }
    if ((p['response'] ?? '').toLowerCase() === expected) return true;
  }
  return false;
}

/** Verify `Authorization: Basic base64(user:pass)`. */
export function basicCheck(req: QsRequest, user: string, pass: string): boolean {
  const want = Buffer.from(`${user}:${pass}`, 'utf8').toString('base64');
  return authorizationHeaders(req).some((h) => {
    const m = /^\s*basic\s+(\S+)\s*$/i.exec(h);
    return m !== null && m[1] === want;
  });
}

// ---------------------------------------------------------------------------------------------
// H.264 media source and pump

export interface H264Source {
  width: number;
  height: number;
  fps: number;
  sps: Buffer;
  pps: Buffer;
  /** access units, each a list of NAL units without start codes */
  accessUnits: Buffer[][];
}

const SOURCE = { width: 320, height: 240, fps: 15, seconds: 2, gop: 15 };
let cachedSource: H264Source | null = null;

/** Split Annex-B on 3- or 4-byte start codes; returns NAL units without start codes. */
export function splitAnnexB(data: Buffer): Buffer[] {
  const nals: Buffer[] = [];
  let i = 0;
  let start = -1;
  while (i + 2 < data.length) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) {
        let end = i;
        if (end > start && data[end - 1] === 0) end--; // 4-byte start code's leading zero
        if (end > start) nals.push(data.subarray(start, end));
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < data.length) nals.push(data.subarray(start));
  return nals;
}

/** Group NAL units into access units (H.264 §7.4.1.2.3, simplified: new AU at non-VCL after VCL, or first_mb_in_slice 0). */
export function groupAccessUnits(nals: Buffer[]): Buffer[][] {
  const aus: Buffer[][] = [];
  let cur: Buffer[] = [];
  let hasVcl = false;
  for (const nal of nals) {
    if (nal.length === 0) continue;
    const type = nal[0]! & 0x1f;
    const isVcl = type >= 1 && type <= 5;
    const firstSlice = isVcl && nal.length > 1 && (nal[1]! & 0x80) !== 0; // ue(v) first_mb_in_slice == 0
    const startsNew = hasVcl && ((isVcl && firstSlice) || type === 6 || type === 7 || type === 8 || type === 9);
    if (startsNew) {
      aus.push(cur);
      cur = [];
      hasVcl = false;
    }
    cur.push(nal);
    if (isVcl) hasVcl = true;
  }
  if (cur.length > 0) aus.push(cur);
  return aus;
}

/**
 * The pump's H.264 source: 2 s of 320x240@15 testsrc, baseline, GOP 15, SPS/PPS before each IDR.
 * Generated once with ffmpeg into os.tmpdir() and cached (file and memory).
 */
export function h264Source(): H264Source {
  if (cachedSource) return cachedSource;
  const { width, height, fps, seconds, gop } = SOURCE;
  const file = path.join(os.tmpdir(), `camgate-qs-${width}x${height}-${fps}-g${gop}-v1.h264`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    const r = spawnSync(
      'ffmpeg',
      [
        '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=${fps}`, '-t', String(seconds),
        '-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'ultrafast', '-g', String(gop), '-bf', '0',
        '-pix_fmt', 'yuv420p', '-x264-params', 'repeat-headers=1', '-f', 'h264', tmp,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
    );
    if (r.status !== 0) throw new Error(`ffmpeg failed to make the QuirkServer H.264 source: ${r.stderr?.toString()}`);
    fs.renameSync(tmp, file); // atomic: parallel workers never read a half-written file
  }
  const nals = splitAnnexB(fs.readFileSync(file));
  const sps = nals.find((n) => (n[0]! & 0x1f) === 7);
  const pps = nals.find((n) => (n[0]! & 0x1f) === 8);
  if (!sps || !pps) throw new Error(`QuirkServer H.264 source ${file} has no SPS/PPS; delete it to regenerate`);
  cachedSource = { width, height, fps, sps, pps, accessUnits: groupAccessUnits(nals) };
  return cachedSource;
}

/** An SDP (RFC 4566) for one H.264 track matching h264Source(), for DESCRIBE replies. */
export function h264Sdp(opts: { control?: string; pt?: number; sprop?: boolean; sessionControl?: string } = {}): string {
  const src = h264Source();
  const pt = opts.pt ?? 96;
  const profileLevelId = src.sps.subarray(1, 4).toString('hex');
  const fmtp = [`packetization-mode=1`, `profile-level-id=${profileLevelId}`];
  if (opts.sprop !== false) {
    fmtp.push(`sprop-parameter-sets=${src.sps.toString('base64')},${src.pps.toString('base64')}`);
  }
  return [
    'v=0',
    `o=- 0 0 IN IP4 ${HOST}`,
    's=QuirkServer',
    'c=IN IP4 0.0.0.0',
    't=0 0',
    `a=control:${opts.sessionControl ?? '*'}`,
    `m=video 0 RTP/AVP ${pt}`,
    `a=rtpmap:${pt} H264/90000`,
    `a=fmtp:${pt} ${fmtp.join(';')}`,
    `a=control:${opts.control ?? 'trackID=0'}`,
    '',
  ].join('\r\n');
}

/** RFC 6184 packetization: single NAL unit packets, FU-A (§5.8) for NALs over `maxPayload`. */
export function packetizeH264Nal(nal: Buffer, maxPayload = 1200): Buffer[] {
  if (nal.length <= maxPayload) return [nal];
  const indicator = (nal[0]! & 0xe0) | 28;
  const type = nal[0]! & 0x1f;
  const out: Buffer[] = [];
  const chunk = maxPayload - 2;
  for (let off = 1; off < nal.length; off += chunk) {
    const end = Math.min(off + chunk, nal.length);
    const fuHeader = (off === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
    out.push(Buffer.concat([Buffer.from([indicator, fuHeader]), nal.subarray(off, end)]));
  }
  return out;
}

export interface H264PumpOptions {
  transport: 'tcp' | 'udp';
  /** interleaved RTP channel (RTCP on channel+1); default 0 */
  channel?: number;
  /** SETUP index for UDP; default 0 */
  track?: number;
  fps?: number;
  ssrc?: number;
  pt?: number;
  startSeq?: number;
  startTimestamp?: number;
  /** largest RTP payload; default 1200 */
  maxPayload?: number;
  /** send an RTCP sender report every second; default false */
  senderReports?: boolean;
  /**
   * Fault injector: sees each RTP packet (index counts from 0) and returns what to send instead:
   * the packet, a modified copy, several packets (duplicate/reorder), or null (drop).
   */
  transform?: (packet: Buffer, index: number) => Buffer | Buffer[] | null;
}

/**
 * A media pump: sends h264Source() as RTP, looping, one access unit per 1/fps, interleaved on
 * `channel` or by UDP to the client_port of SETUP `track`, until stop() or the connection closes.
 */
export function startH264Pump(ctx: QsContext, opts: H264PumpOptions): { stop(): void; packetsSent: number } {
  const src = h264Source();
  const fps = opts.fps ?? src.fps;
  const pt = opts.pt ?? 96;
  const ssrc = opts.ssrc ?? crypto.randomBytes(4).readUInt32BE(0);
  const channel = opts.channel ?? 0;
  const track = opts.track ?? 0;
  const maxPayload = opts.maxPayload ?? 1200;
  const ticksPerFrame = Math.round(90000 / fps);
  let seq = opts.startSeq ?? crypto.randomBytes(2).readUInt16BE(0);
  let ts = opts.startTimestamp ?? crypto.randomBytes(4).readUInt32BE(0);
  let auIndex = 0;
  let packetIndex = 0;
  let octets = 0;
  let lastSr = 0;
  let stopped = false;

  const pump = { packetsSent: 0, stop };

  const send = (pkt: Buffer, rtcp = false) => {
    if (opts.transport === 'tcp') ctx.interleaved(channel + (rtcp ? 1 : 0), pkt);
    else ctx.sendUdp(track, pkt, rtcp);
  };

  const tick = () => {
    if (stopped) return;
    if (ctx.socket.destroyed) {
      stop();
      return;
    }
    const au = src.accessUnits[auIndex % src.accessUnits.length]!;
    auIndex++;
    const payloads = au.flatMap((nal) => packetizeH264Nal(nal, maxPayload));
    payloads.forEach((payload, i) => {
      const pkt = rtpPacket(pt, seq, ts, ssrc, i === payloads.length - 1, payload);
      seq = (seq + 1) & 0xffff;
      const out = opts.transform ? opts.transform(pkt, packetIndex) : pkt;
      packetIndex++;
      for (const p of out === null ? [] : Array.isArray(out) ? out : [out]) {
        send(p);
        pump.packetsSent++;
        octets += p.length - 12;
      }
    });
    const now = Date.now();
    if (opts.senderReports && now - lastSr >= 1000) {
      lastSr = now;
      send(rtcpSenderReport(ssrc, now, ts, pump.packetsSent, octets), true);
    }
    ts = (ts + ticksPerFrame) >>> 0;
  };

  const timer = setInterval(tick, 1000 / fps);
  const onClose = () => stop();
  ctx.socket.once('close', onClose);
  tick(); // first frame (an IDR with SPS/PPS) right away, as cameras do after PLAY

  function stop() {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    ctx.socket.off('close', onClose);
  }
  return pump;
}
