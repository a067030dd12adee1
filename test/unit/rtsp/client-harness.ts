// A small scripted RTSP server for the client tests (real loopback sockets, byte-exact replies).
// Replies are raw strings so that malformed syntax (LF-only, no reason phrase, missing CSeq…)
// can be produced exactly as cameras do.
import net from 'node:net';
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import { RtspDemuxer, encodeInterleaved } from '../../../src/rtsp/message.ts';
import type { RtspHeaders } from '../../../src/rtsp/message.ts';

export interface SeenRequest {
  method: string;
  uri: string;
  headers: RtspHeaders;
  body: Buffer;
  /** index of the TCP connection this came on (0-based, per server) */
  conn: number;
}

export interface ConnCtx {
  readonly conn: number;
  readonly socket: net.Socket;
  /** per-connection scratch space for scenarios */
  state: Record<string, unknown>;
  write(b: string | Buffer): void;
  interleaved(ch: number, payload: Buffer): void;
  /** UDP from the server's socket (or a fresh ephemeral one when `fromOtherPort`) */
  udp(port: number, payload: Buffer, fromOtherPort?: boolean): void;
  readonly closed: boolean;
  /** the port our UDP media leaves from (advertised as server_port) */
  readonly serverUdpPort: number;
}

/** return a raw reply, or null to stay silent */
export type Handler = (req: SeenRequest, ctx: ConnCtx) => string | Buffer | null | undefined | Promise<string | Buffer | null | undefined>;

export interface TestServer {
  port: number;
  requests: SeenRequest[];
  /** raw responses the client wrote to us (Q07) */
  clientResponses: { statusCode: number; headers: RtspHeaders }[];
  url(path: string, userinfo?: string): string;
  close(): Promise<void>;
  udpPort: number;
  connections: number;
  /** datagrams the client sent to our server_port (NAT punch, RTCP) */
  udpReceived: { port: number; payload: Buffer }[];
  /** `$` frames the client sent on the control connection (RTCP RR over TCP) */
  interleavedFromClient: { channel: number; payload: Buffer }[];
}

export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const clientResponses: TestServer['clientResponses'] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const udpSock = dgram.createSocket('udp4');
  await new Promise<void>((r) => udpSock.bind(0, '127.0.0.1', r));
  udpSock.on('error', () => undefined);
  const udpReceived: TestServer['udpReceived'] = [];
  const interleavedFromClient: TestServer['interleavedFromClient'] = [];
  udpSock.on('message', (payload, rinfo) => udpReceived.push({ port: rinfo.port, payload }));
  const other = dgram.createSocket('udp4');
  await new Promise<void>((r) => other.bind(0, '127.0.0.1', r));
  other.on('error', () => undefined);
  let connCount = 0;

  const server = net.createServer((socket) => {
    sockets.add(socket);
    const conn = connCount++;
    const demux = new RtspDemuxer();
    let closed = false;
    socket.on('close', () => {
      closed = true;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    const ctx: ConnCtx = {
      conn,
      socket,
      state: {},
      write: (b) => {
        if (!closed && !socket.destroyed) socket.write(b);
      },
      interleaved: (ch, p) => ctx.write(encodeInterleaved(ch, p)),
      udp: (port, payload, fromOtherPort) => {
        if (closed) return;
        (fromOtherPort ? other : udpSock).send(payload, port, '127.0.0.1');
      },
      get closed() {
        return closed;
      },
      serverUdpPort: udpSock.address().port,
    };
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      for (const ev of demux.push(chunk)) {
        if (ev.type === 'response') clientResponses.push({ statusCode: ev.statusCode, headers: ev.headers });
        if (ev.type === 'interleaved') interleavedFromClient.push({ channel: ev.channel, payload: Buffer.from(ev.payload) });
        if (ev.type !== 'request') continue;
        const req: SeenRequest = { method: ev.method, uri: ev.uri, headers: ev.headers, body: ev.body, conn };
        requests.push(req);
        chain = chain.then(async () => {
          const out = await handler(req, ctx);
          if (out !== null && out !== undefined) ctx.write(out);
        });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    requests,
    clientResponses,
    udpReceived,
    interleavedFromClient,
    udpPort: udpSock.address().port,
    get connections() {
      return connCount;
    },
    url: (path, userinfo) => `rtsp://${userinfo ? `${userinfo}@` : ''}127.0.0.1:${port}${path}`,
    close: async () => {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      udpSock.close();
      other.close();
    },
  };
}

export interface ReplyOpts {
  eol?: string;
  /** reason phrase; '' for none (`RTSP/1.0 200`) */
  reason?: string;
  noCseq?: boolean;
  noContentLength?: boolean;
  /** name to use for the Content-Length header (e.g. `Content-length`) */
  contentLengthName?: string;
}

const REASONS: Record<number, string> = { 200: 'OK', 302: 'Moved Temporarily', 401: 'Unauthorized', 404: 'Not Found', 400: 'Bad Request', 454: 'Session Not Found', 461: 'Unsupported Transport', 501: 'Not Implemented' };

/** build a raw response; CSeq is echoed from the request unless noCseq */
export function reply(req: SeenRequest, code: number, headers: [string, string][] | Record<string, string> = {}, body = '', o: ReplyOpts = {}): string {
  const eol = o.eol ?? '\r\n';
  const reason = o.reason ?? REASONS[code] ?? 'Whatever';
  const lines = [reason === '' ? `RTSP/1.0 ${code}` : `RTSP/1.0 ${code} ${reason}`];
  if (!o.noCseq) lines.push(`CSeq: ${req.headers.get('CSeq') ?? '0'}`);
  for (const [k, v] of Array.isArray(headers) ? headers : Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body.length > 0 && !o.noContentLength) lines.push(`${o.contentLengthName ?? 'Content-Length'}: ${Buffer.byteLength(body)}`);
  return lines.join(eol) + eol + eol + body;
}

export function rtpPacket(pt: number, seq: number, ts: number, ssrc: number, payload: Buffer = Buffer.from([0x41, 0x9a, 0x00, 0x01]), marker = true): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | pt;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, payload]);
}

/** RTCP SR with no report blocks */
export function rtcpSr(ssrc: number): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(6, 2);
  b.writeUInt32BE(ssrc, 4);
  return b;
}

export const sdpH264Pcmu = (controls: [string, string] = ['trackID=0', 'trackID=1'], eol = '\r\n', sessionControl?: string) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=Test camera',
    'c=IN IP4 0.0.0.0',
    't=0 0',
    ...(sessionControl ? [`a=control:${sessionControl}`] : []),
    'm=video 0 RTP/AVP 96',
    'a=rtpmap:96 H264/90000',
    'a=fmtp:96 packetization-mode=1;profile-level-id=42e01e',
    `a=control:${controls[0]}`,
    'm=audio 0 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    `a=control:${controls[1]}`,
    '',
  ].join(eol);

// ------------------------------------------------------------------------------------------------
// auth helpers

export interface DigestParams {
  [k: string]: string;
}

/** parse `Digest a="b", c=d` (test side: simple but tolerant of both quoting styles) */
export function parseAuthParams(v: string): { scheme: string; params: DigestParams; raw: string } {
  const sp = v.indexOf(' ');
  const scheme = sp < 0 ? v : v.slice(0, sp);
  const params: DigestParams = {};
  const re = /([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let m: RegExpExecArray | null;
  const rest = sp < 0 ? '' : v.slice(sp + 1);
  while ((m = re.exec(rest)) !== null) params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2] : m[3]!;
  return { scheme, params, raw: rest };
}

const hash = (alg: string, s: string) => crypto.createHash(alg.toUpperCase().startsWith('SHA-256') ? 'sha256' : 'md5').update(s).digest('hex');

/** RFC 2617/7616 digest verification; `uri` must equal the request line byte for byte (Q11) */
export function digestCheck(req: SeenRequest, user: string, pass: string, realm: string, nonce: string, alg = 'MD5'): boolean {
  for (const v of req.headers.getAll('Authorization')) {
    const { scheme, params: p } = parseAuthParams(v);
    if (scheme.toLowerCase() !== 'digest') continue;
    if (p.username !== user || p.realm !== realm || p.nonce !== nonce || p.uri !== req.uri) continue;
    if ((p.algorithm ?? 'MD5').toUpperCase() !== alg.toUpperCase()) continue;
    const ha1 = hash(alg, `${user}:${realm}:${pass}`);
    const ha2 = hash(alg, `${req.method}:${req.uri}`);
    const expected = p.qop ? hash(alg, `${ha1}:${nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) : hash(alg, `${ha1}:${nonce}:${ha2}`);
    if (p.response === expected) return true;
  }
  return false;
}

export function basicCheck(req: SeenRequest, user: string, pass: string): boolean {
  const v = req.headers.get('Authorization');
  if (!v?.startsWith('Basic ')) return false;
  return Buffer.from(v.slice(6).trim(), 'base64').toString('utf8') === `${user}:${pass}`;
}

// ------------------------------------------------------------------------------------------------
// a configurable "well-behaved camera" that scenarios override piece by piece

export interface CameraOpts {
  sdp?: string;
  eol?: string;
  describeHeaders?: [string, string][];
  publicMethods?: string;
  sessionHeader?: string;
  /** return a 401 reply (or another gate reply) to block the request, or null to let it through */
  gate?: (req: SeenRequest, ctx: ConnCtx) => string | null;
  /** replaces the default SETUP handling; return null to use the default */
  setup?: (req: SeenRequest, ctx: ConnCtx, track: number) => string | null;
  play?: (req: SeenRequest, ctx: ConnCtx) => string | Buffer | null;
  /** keepalive (GET_PARAMETER / OPTIONS with Session) override; n counts from 1 */
  keepalive?: (req: SeenRequest, ctx: ConnCtx, n: number) => string | null | undefined;
  /** send media after PLAY (default true) */
  pump?: boolean;
  pumpIntervalMs?: number;
  /** UDP media from another port than server_port (Q28) */
  udpFromOtherPort?: boolean;
  /** never send UDP media (firewalled UDP, Q29) */
  udpSilent?: boolean;
  other?: (req: SeenRequest, ctx: ConnCtx) => string | null | undefined;
}

export interface TrackWire {
  channels?: [number, number];
  clientPorts?: [number, number];
}

export function camera(o: CameraOpts = {}): Handler {
  const eol = o.eol ?? '\r\n';
  let keepalives = 0;
  return (req, ctx) => {
    const gated = o.gate?.(req, ctx);
    if (gated) return gated;
    const tracks = (ctx.state.tracks ??= []) as TrackWire[];
    const session = o.sessionHeader ?? '12345678;timeout=60';
    const isKeepalive = req.headers.has('Session') && (req.method === 'GET_PARAMETER' || req.method === 'OPTIONS');
    if (isKeepalive) {
      keepalives++;
      if (o.keepalive) {
        const r = o.keepalive(req, ctx, keepalives);
        if (r !== undefined) return r;
      }
      return reply(req, 200, { Session: session.split(';')[0]! }, '', { eol });
    }
    switch (req.method) {
      case 'OPTIONS':
        return reply(req, 200, { Public: o.publicMethods ?? 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' }, '', { eol });
      case 'DESCRIBE':
        return reply(req, 200, [['Content-Type', 'application/sdp'], ...(o.describeHeaders ?? [])], o.sdp ?? sdpH264Pcmu(undefined, eol), { eol });
      case 'SETUP': {
        const idx = tracks.length;
        const custom = o.setup?.(req, ctx, idx);
        const t = req.headers.get('Transport') ?? '';
        const wire: TrackWire = {};
        const il = /interleaved=(\d+)-(\d+)/.exec(t);
        const cp = /client_port=(\d+)-(\d+)/.exec(t);
        if (il) wire.channels = [Number(il[1]), Number(il[2])];
        if (cp) wire.clientPorts = [Number(cp[1]), Number(cp[2])];
        if (custom) {
          const ril = /interleaved=(\d+)-(\d+)/.exec(custom);
          if (ril) wire.channels = [Number(ril[1]), Number(ril[2])];
          tracks.push(wire);
          return custom;
        }
        tracks.push(wire);
        const tr = il ? `RTP/AVP/TCP;unicast;interleaved=${il[1]}-${il[2]}` : `RTP/AVP;unicast;client_port=${cp?.[1]}-${cp?.[2]};server_port=${ctx.serverUdpPort}-${ctx.serverUdpPort + 1}`;
        return reply(req, 200, { Transport: tr, Session: session }, '', { eol });
      }
      case 'PLAY': {
        const r = o.play ? o.play(req, ctx) : reply(req, 200, { Session: session.split(';')[0]!, Range: 'npt=0.000-' }, '', { eol });
        if (o.pump !== false) startPump(ctx, tracks, o);
        return r;
      }
      case 'TEARDOWN':
        ctx.state.teardown = true;
        return reply(req, 200, { Session: session.split(';')[0]! }, '', { eol });
      default: {
        const r = o.other?.(req, ctx);
        if (r !== undefined) return r;
        return reply(req, 501, {}, '', { eol });
      }
    }
  };
}

/** send one RTP packet per track every interval, until the connection closes or TEARDOWN */
export function startPump(ctx: ConnCtx, tracks: TrackWire[], o: { pumpIntervalMs?: number; udpFromOtherPort?: boolean; udpSilent?: boolean } = {}): void {
  let seq = 1000;
  const timer = setInterval(() => {
    if (ctx.closed || ctx.state.teardown || ctx.state.stopMedia) {
      clearInterval(timer);
      return;
    }
    seq++;
    tracks.forEach((t, i) => {
      const pkt = rtpPacket(i === 0 ? 96 : 0, seq, seq * 3000, 0x1000 + i);
      if (t.channels) ctx.interleaved(t.channels[0], pkt);
      else if (t.clientPorts && !o.udpSilent) ctx.udp(t.clientPorts[0], pkt, o.udpFromOtherPort);
    });
  }, o.pumpIntervalMs ?? 20);
}

/** a logger that records everything (to prove secrets never reach it) */
export function recordingLogger(): { lines: string[]; logger: { debug: (o: object | string, m?: string) => void; info: (o: object | string, m?: string) => void; warn: (o: object | string, m?: string) => void; error: (o: object | string, m?: string) => void } } {
  const lines: string[] = [];
  const f = (o: object | string, m?: string) => {
    lines.push(`${typeof o === 'string' ? o : JSON.stringify(o)} ${m ?? ''}`);
  };
  return { lines, logger: { debug: f, info: f, warn: f, error: f } };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** wait until `cond` holds (polling), failing after `ms` */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
