/**
 * The RTSP server (RFC 2326): the restream that NVRs read (`rtsp://HOST:8554/<stream>`) and the push
 * ingest that encoders publish to (ANNOUNCE + SETUP mode=record + RECORD, for `url: publisher`
 * cameras). It shares the message codec, header parsers, Digest/Basic auth and SDP builder with the
 * RTSP client.
 *
 * Readers get RTP over TCP interleaved, UDP unicast or UDP multicast, starting at the last keyframe
 * of the GOP cache, with RTCP sender reports on the camera's wall clock. A reader that stops reading
 * is dropped back to the next keyframe (its bounded queue overflows) and disconnected if it stays
 * stuck; it never slows the others, because each reader has its own queue and nothing waits on it.
 */
import net from 'node:net';
import tls from 'node:tls';
import type dgram from 'node:dgram';
import type { Gateway } from '../gateway.ts';
import { RESTREAM_DEFAULTS } from '../config/types.ts';
import type { Logger } from '../camera/camera.ts';
import type { Stream } from '../stream/stream.ts';
import type { Principal } from '../auth/access.ts';
import { safeEqual } from '../auth/access.ts';
import { newSessionId, type ViewerSession } from '../stream/sessions.ts';
import { RtspDemuxer, RtspHeaders, serializeResponse, statusText, encodeInterleaved, type RtspRequest } from './message.ts';
import { parseTransport, formatTransport, type TransportSpec } from './headers/transport.ts';
import { parseSession } from './headers/session.ts';
import { parseRtspUrl, lenientPercentDecode } from './url.ts';
import { ServerAuthenticator } from './auth.ts';
import { buildSdp, parseSdp, type SdpMedia } from '../sdp/index.ts';
import { parseRtcp, buildReceiverReport, type ReportBlock } from '../rtp/rtcp.ts';
import { randomInt } from 'node:crypto';
import { describeTrack, addAttributes, canServe, type ServedMedia } from './server/media.ts';
import { RtpSender, newSenderTrack, type SenderTrack } from './server/sender.ts';
import { StreamRtp } from './server/shared.ts';
import { UdpPortPool, InterleavedSink, DatagramSink, type ServerPortPair } from './server/transport.ts';
import { MulticastPool, type MulticastGroup } from './server/multicast.ts';
import { waitingPublisher, publishableTracks, type PublisherSource, type PublisherHandle } from '../camera/publisher.ts';

export const SERVER_NAME = 'camgate/0.1';
const PUBLIC_METHODS = 'OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER, ANNOUNCE, RECORD';

export interface RtspServerOptions {
  gateway: Gateway;
  /** Bind address; '' or undefined = all interfaces. */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Server UDP ports for unicast readers and publishers (default 8000-8499). */
  udpPorts?: { min: number; max: number };
  /** Multicast: groups from `groups` (CIDR), ports from `ports`, TTL 1 (same subnet) by default. */
  multicast?: { groups?: string; ports?: { min: number; max: number }; ttl?: number; interface?: string };
  /** Session timeout announced as `Session: id;timeout=N` (default 60 s). */
  sessionTimeoutMs?: number;
  /** RTCP sender report interval (default 5 s, RFC 3550 §6.2). */
  srIntervalMs?: number;
  /** Socket backlog (bytes) above which a TCP reader counts as slow (default 4 MiB). */
  writeHighWaterBytes?: number;
  /** A slow reader still backed up after this long is disconnected (default 10 s). */
  stuckTimeoutMs?: number;
  /** Bytes queued per reader before its queue drops back to the next keyframe (default 4 MiB). */
  readerQueueBytes?: number;
  /** DESCRIBE waits this long for an offline (or on-demand) stream to come online (default 10 s). */
  describeWaitMs?: number;
  /** ANNOUNCE waits this long for the camera to be ready for a publisher (default 3 s). */
  publisherWaitMs?: number;
  maxConnections?: number;
  maxSessions?: number;
  logger?: Logger;
  /**
   * RTSPS (RTSP over TLS, the `rtsps` scheme of RFC 7826): PEM certificate chain and key. Media goes
   * only interleaved in the TLS connection; a UDP or multicast SETUP gets 461, since plain RTP
   * beside an encrypted control connection would defeat the point (MediaMTX sends SRTP there).
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

type TransportKind = 'tcp' | 'udp' | 'multicast';

interface SessionTrack {
  /** Hub track id (play) or media index in the ANNOUNCE SDP (record). */
  id: number;
  control: string;
  transport: TransportKind;
  interleaved?: [number, number];
  udp?: ServerPortPair;
  client?: { address: string; rtpPort: number; rtcpPort: number };
  sender?: SenderTrack;
  /** The last receiver report the reader sent about this track. */
  rr?: ReportBlock & { at: string };
}

/** Per-session details shown in the sessions list (extra fields of the ViewerSession). */
export interface RtspSessionDetails {
  transport: TransportKind | null;
  mode: 'play' | 'record';
  /** Receiver reports from the reader, per track. */
  receiverReports: { track: number; fractionLost: number; cumulativeLost: number; jitter: number; at: string }[];
  /** Times the reader's queue overflowed and was dropped back to a keyframe. */
  overflows: number;
}

class Session implements PublisherHandle {
  readonly id = newSessionId().slice(0, 16);
  readonly tracks = new Map<number, SessionTrack>();
  lastActivity = Date.now();
  state: 'init' | 'ready' | 'playing' | 'recording' = 'init';
  sender: RtpSender | undefined;
  tcpSink: InterleavedSink | undefined;
  udpSink: DatagramSink | undefined;
  multicast: MulticastGroup | undefined;
  joinedMulticast = false;
  release: (() => void) | undefined;
  unregister: (() => void) | undefined;
  publisher: PublisherSource | undefined;
  /** Record sessions: the medias of the ANNOUNCE SDP. */
  medias: SdpMedia[] = [];
  usable: number[] = [];
  closed = false;
  readonly details: RtspSessionDetails;
  /** Record sessions: our SSRC in the receiver reports we send the publisher. */
  readonly rrSsrc = randomInt(1, 0xffffffff);

  constructor(
    readonly server: RtspServer,
    readonly mode: 'play' | 'record',
    readonly streamName: string,
    readonly stream: Stream,
    public conn: Connection | undefined,
    readonly principal: Principal | null,
  ) {
    this.details = { transport: null, mode, receiverReports: [], overflows: 0 };
  }

  get transport(): TransportKind | null {
    for (const t of this.tracks.values()) return t.transport;
    return null;
  }

  /** PublisherHandle: the camera stopped. */
  close(reason: string): void {
    this.server.closeSession(this, reason, true);
  }

  bytesSent(): number {
    return this.sender?.bytesSent ?? 0;
  }
}

class Connection {
  readonly demux = new RtspDemuxer({ maxHeaderBytes: 16 * 1024, maxBodyBytes: 256 * 1024 });
  readonly sessions = new Set<Session>();
  /** interleaved channel → session and track */
  readonly channels = new Map<number, { session: Session; track: SessionTrack; rtcp: boolean }>();
  principal: Principal | null | undefined;
  /** A record session announced on this connection and not yet set up. */
  announced: Session | undefined;
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  readonly remoteAddress: string;
  readonly localAddress: string;
  errors = 0;

  constructor(
    readonly server: RtspServer,
    readonly socket: net.Socket,
  ) {
    this.remoteAddress = normalize(socket.remoteAddress);
    this.localAddress = normalize(socket.localAddress);
  }

  /** Requests are answered in order, one at a time (some wait, e.g. DESCRIBE for a stream to come online). */
  enqueue(fn: () => Promise<void>): void {
    if (this.pending >= 16) {
      // A client that pipelines without reading answers is not an RTSP client worth serving.
      this.socket.destroy();
      return;
    }
    this.pending++;
    this.queue = this.queue.then(fn).catch(() => undefined).finally(() => this.pending--);
  }

  write(b: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }
}

const normalize = (a: string | undefined): string => (a === undefined ? '' : a.startsWith('::ffff:') ? a.slice(7) : a);

class RtspError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string | string[]> = {},
  ) {
    super(message);
  }
}

/** Stream name and track from a request URL: `/cam`, `/cam/sub`, `/cam/trackID=1`, `/cam/sub/streamid=0`. */
export function parseRequestPath(uri: string): { path: string; name: string; control?: string } | undefined {
  let pathAndQuery: string;
  if (uri.startsWith('/')) pathAndQuery = uri;
  else {
    const u = parseRtspUrl(uri);
    if (!u.ok) return undefined;
    pathAndQuery = u.value.pathAndQuery;
  }
  const q = pathAndQuery.indexOf('?');
  const rawPath = q >= 0 ? pathAndQuery.slice(0, q) : pathAndQuery;
  const path = lenientPercentDecode(rawPath).replace(/^\/+/, '').replace(/\/+$/, '');
  const slash = path.lastIndexOf('/');
  const last = slash >= 0 ? path.slice(slash + 1) : '';
  if (slash >= 0 && /^(trackID|streamid|track|stream)=\d+$/i.test(last)) return { path, name: path.slice(0, slash), control: last };
  return { path, name: path };
}

export class RtspServer {
  readonly gateway: Gateway;
  private readonly server: net.Server | tls.Server;
  private readonly conns = new Set<Connection>();
  private readonly sessions = new Map<string, Session>();
  private readonly rtp = new WeakMap<Stream, StreamRtp>();
  private readonly udpPool: UdpPortPool;
  private readonly mcast: MulticastPool;
  private readonly auth = new ServerAuthenticator({ realm: 'camgate', methods: ['digest-sha256', 'digest-md5', 'basic'] });
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private rrTimer: NodeJS.Timeout | undefined;
  readonly sessionTimeoutMs: number;
  private readonly srIntervalMs: number;
  private readonly highWater: number;
  private readonly stuckMs: number;
  private readonly describeWaitMs: number;
  private readonly publisherWaitMs: number;
  private readonly maxConnections: number;
  private readonly maxSessions: number;
  private readonly host: string;

  constructor(private readonly opts: RtspServerOptions) {
    this.gateway = opts.gateway;
    this.log = opts.logger ?? opts.gateway.log;
    this.host = opts.host || '0.0.0.0';
    this.sessionTimeoutMs = opts.sessionTimeoutMs ?? 60_000;
    this.srIntervalMs = opts.srIntervalMs ?? 5000;
    this.highWater = opts.writeHighWaterBytes ?? 4 * 1024 * 1024;
    this.stuckMs = opts.stuckTimeoutMs ?? 10_000;
    this.describeWaitMs = opts.describeWaitMs ?? 10_000;
    this.publisherWaitMs = opts.publisherWaitMs ?? 3000;
    this.maxConnections = opts.maxConnections ?? 1024;
    this.maxSessions = opts.maxSessions ?? 1024;
    this.udpPool = new UdpPortPool(opts.udpPorts ?? RESTREAM_DEFAULTS.udpPorts, this.host);
    this.mcast = new MulticastPool({
      groups: opts.multicast?.groups ?? RESTREAM_DEFAULTS.multicastGroups,
      ports: opts.multicast?.ports ?? RESTREAM_DEFAULTS.multicastPorts,
      ttl: opts.multicast?.ttl ?? RESTREAM_DEFAULTS.multicastTtl,
      interface: opts.multicast?.interface,
      bindAddress: this.host,
    });
    this.server = opts.tls
      ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key }, (s) => this.onConnection(s))
      : net.createServer((s) => this.onConnection(s));
    this.server.on('error', (e) => this.log.error({ err: e.message }, 'rtsp server error'));
    // A client that fails the TLS handshake (plain RTSP on the RTSPS port, a bad certificate) is
    // dropped; it never reaches the RTSP codec.
    if (opts.tls) this.server.on('tlsClientError', (e: Error) => this.log.debug({ err: e.message }, 'rtsps handshake failed'));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host || undefined, () => {
        this.server.off('error', reject);
        const every = Math.max(50, Math.min(1000, Math.floor(this.sessionTimeoutMs / 4)));
        this.timer = setInterval(() => this.expire(), every);
        this.timer.unref();
        this.rrTimer = setInterval(() => this.sendReceiverReports(), Math.max(100, this.srIntervalMs));
        this.rrTimer.unref();
        resolve(this.port);
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.rrTimer) clearInterval(this.rrTimer);
    for (const s of [...this.sessions.values()]) this.closeSession(s, 'server stopping', true);
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Active sessions (readers and publishers), for tests and diagnostics. */
  list(): { id: string; stream: string; mode: string; state: string; transport: string | null; remoteAddress: string; details: RtspSessionDetails }[] {
    return [...this.sessions.values()].map((s) => ({
      id: s.id,
      stream: s.streamName,
      mode: s.mode,
      state: s.state,
      transport: s.transport,
      remoteAddress: s.conn?.remoteAddress ?? '',
      details: this.refreshDetails(s),
    }));
  }

  private refreshDetails(s: Session): RtspSessionDetails {
    s.details.transport = s.transport;
    s.details.overflows = s.sender?.consumerStats?.overflows ?? s.multicast?.sender?.consumerStats?.overflows ?? 0;
    s.details.receiverReports = [...s.tracks.values()]
      .filter((t) => t.rr)
      .map((t) => ({ track: t.id, fractionLost: t.rr!.fractionLost, cumulativeLost: t.rr!.cumulativeLost, jitter: t.rr!.jitter, at: t.rr!.at }));
    return s.details;
  }

  // ───────────────────────── connections ─────────────────────────

  private onConnection(socket: net.Socket): void {
    if (this.conns.size >= this.maxConnections) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn = new Connection(this, socket);
    this.conns.add(conn);
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.conns.delete(conn);
      // TCP sessions live on their connection; UDP sessions outlive it until they time out (RFC 2326 §3).
      for (const s of [...conn.sessions]) {
        if (s.transport === 'tcp' || s.transport === null || s.mode === 'record') this.closeSession(s, 'connection closed', false);
        else s.conn = undefined;
      }
    });
  }

  private onData(conn: Connection, chunk: Buffer): void {
    for (const ev of conn.demux.push(chunk)) {
      switch (ev.type) {
        case 'interleaved': {
          const ch = conn.channels.get(ev.channel);
          if (!ch) break;
          this.onMedia(ch.session, ch.track, ev.payload, ch.rtcp);
          break;
        }
        case 'request':
          conn.enqueue(() => this.handle(conn, ev));
          break;
        case 'response':
          break; // answers to nothing we asked: ignore
        case 'error':
          if (++conn.errors > 20) conn.socket.destroy();
          else conn.write(serializeResponse({ statusCode: 400, headers: new RtspHeaders({ Server: SERVER_NAME }) }));
          break;
      }
    }
  }

  /** RTP/RTCP from a client: RTCP receiver reports from readers, media from publishers. */
  private onMedia(s: Session, t: SessionTrack, payload: Buffer, rtcp: boolean): void {
    if (s.closed) return;
    s.lastActivity = Date.now();
    if (s.mode === 'record') {
      s.publisher?.push(s, t.id, payload, rtcp);
      return;
    }
    if (!rtcp) return;
    for (const p of parseRtcp(payload).packets) {
      if (p.type !== 'RR' && p.type !== 'SR') continue;
      const block = p.reports.find((r) => r.ssrc === t.sender?.ssrc) ?? p.reports[0];
      if (block) t.rr = { ...block, at: new Date().toISOString() };
    }
  }

  // ───────────────────────── requests ─────────────────────────

  private async handle(conn: Connection, req: RtspRequest): Promise<void> {
    const cseq = req.headers.get('CSeq');
    const headers = new RtspHeaders({ CSeq: cseq ?? '0', Server: SERVER_NAME });
    let status = 200;
    let body: Buffer | undefined;
    try {
      if (cseq === undefined) throw new RtspError(400, 'CSeq missing');
      if (!/^RTSP\/1\.\d$/.test(req.version)) throw new RtspError(505, `${req.version} not supported`);
      const r = await this.dispatch(conn, req, headers);
      if (r) body = r;
    } catch (e) {
      if (e instanceof RtspError) {
        status = e.status;
        for (const [k, v] of Object.entries(e.headers)) for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
        if (status >= 500) this.log.warn({ method: req.method, status, err: e.message }, `rtsp ${req.method}: ${e.message}`);
        else this.log.debug({ method: req.method, status, err: e.message }, `rtsp ${req.method}: ${e.message}`);
        body = Buffer.from(`${e.message}\n`);
        headers.set('Content-Type', 'text/plain');
      } else {
        status = 500;
        this.log.error({ method: req.method, err: (e as Error).message }, 'rtsp request failed');
      }
    }
    conn.write(serializeResponse({ statusCode: status, reason: statusText(status) === 'Unknown' && status === 409 ? 'Conflict' : undefined, headers, body }));
    // Media may start only once the PLAY/RECORD response is on the wire.
    const after = afterResponse.get(headers);
    if (after && status === 200) after();
  }

  private async dispatch(conn: Connection, req: RtspRequest, headers: RtspHeaders): Promise<Buffer | void> {
    switch (req.method) {
      case 'OPTIONS':
        this.touchSession(req, conn, false);
        headers.set('Public', PUBLIC_METHODS);
        return;
      case 'GET_PARAMETER':
      case 'SET_PARAMETER': {
        const s = this.touchSession(req, conn, false);
        if (s) headers.set('Session', this.sessionHeader(s));
        return;
      }
      case 'DESCRIBE':
        return this.describe(conn, req, headers);
      case 'SETUP':
        return this.setup(conn, req, headers);
      case 'PLAY':
        return this.play(conn, req, headers);
      case 'PAUSE': {
        const s = this.touchSession(req, conn, true)!;
        if (s.mode !== 'play') throw new RtspError(455, 'PAUSE is for readers');
        s.sender?.stop();
        s.sender = undefined;
        if (s.state === 'playing') s.state = 'ready';
        headers.set('Session', this.sessionHeader(s));
        return;
      }
      case 'TEARDOWN': {
        const s = this.touchSession(req, conn, true)!;
        this.closeSession(s, 'teardown', false);
        return;
      }
      case 'ANNOUNCE':
        return this.announce(conn, req, headers);
      case 'RECORD':
        return this.record(conn, req, headers);
      default:
        throw new RtspError(501, `${req.method} not implemented`, { Public: PUBLIC_METHODS });
    }
  }

  private sessionHeader(s: Session): string {
    return `${s.id};timeout=${Math.max(1, Math.round(this.sessionTimeoutMs / 1000))}`;
  }

  /** The session a request names (refreshing its timeout), 454 if unknown, undefined if none named. */
  private touchSession(req: RtspRequest, conn: Connection, required: boolean): Session | undefined {
    const h = req.headers.get('Session');
    if (h === undefined) {
      if (required) throw new RtspError(454, 'Session header missing');
      return undefined;
    }
    const p = parseSession(h);
    const s = p.ok ? this.sessions.get(p.value.id) : undefined;
    if (!s) throw new RtspError(454, 'unknown session');
    if (s.conn && s.conn !== conn && s.transport === 'tcp') throw new RtspError(454, 'session belongs to another connection');
    s.conn ??= conn;
    s.lastActivity = Date.now();
    return s;
  }

  // ───────────────────────── auth ─────────────────────────

  /** Who sent this request: the Authorization header, else what this connection proved before. */
  private authenticate(conn: Connection, req: RtspRequest, lookup?: (user: string) => string | undefined): Principal | null | 'publisher' {
    const a = req.headers.get('Authorization');
    if (!a) {
      if (conn.principal !== undefined) return conn.principal;
      throw new RtspError(401, 'authentication required', { 'WWW-Authenticate': this.auth.challenge() });
    }
    const access = this.gateway.access;
    // The failed-login limiter (shared with HTTP): checked before any verification, so a locked-out
    // address learns nothing about its guess. RTSP has no 429; a 401 would make clients retry with
    // the same credentials at once, so it is 403 with the wait in the body (and Retry-After).
    const wait = access.loginBlockedFor(conn.remoteAddress);
    if (wait > 0) throw new RtspError(403, `too many failed sign-ins from this address; try again in ${wait} s`, { 'Retry-After': String(wait) });
    const result = (ok: boolean) => access.loginResult(conn.remoteAddress, ok);
    if (/^basic\s/i.test(a)) {
      // Basic goes through AccessControl so that users with only a passwordHash can sign in too.
      const decoded = Buffer.from(a.slice(6).trim(), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const user = i < 0 ? '' : decoded.slice(0, i);
      const pass = i < 0 ? '' : decoded.slice(i + 1);
      const cam = lookup?.(user);
      if (cam !== undefined && safeEqual(cam, pass)) {
        result(true);
        return 'publisher';
      }
      const p = i < 0 ? null : access.verifyPassword(user, pass);
      result(p !== null);
      if (!p) throw new RtspError(401, 'wrong username or password', { 'WWW-Authenticate': this.auth.challenge() });
      conn.principal = p;
      return p;
    }
    let viaCamera = false;
    const r = this.auth.verify(req.method, a, (user) => {
      const cam = lookup?.(user);
      if (cam !== undefined) {
        viaCamera = true;
        return cam;
      }
      viaCamera = false;
      return access.digestSecret(user);
    });
    // An expired nonce is not a wrong guess: the client just answers the fresh challenge.
    if (!r.ok && !r.stale) result(false);
    if (!r.ok) throw new RtspError(401, r.stale ? 'nonce expired' : 'wrong username or password', { 'WWW-Authenticate': this.auth.challenge(r.stale) });
    result(true);
    if (viaCamera) return 'publisher';
    // A Digest user is one of `users` (digestSecret found it): same principal Basic would give.
    const p = this.principalOf(r.username);
    conn.principal = p;
    return p;
  }

  private principalOf(name: string): Principal | null {
    const u = this.gateway.config.users.find((x) => x.name === name);
    return u ? { name: u.name, role: u.role, cameras: u.role === 'viewer' ? u.cameras : undefined } : null;
  }

  private authorizeView(conn: Connection, req: RtspRequest, stream: string): Principal | null {
    const access = this.gateway.access;
    if (access.open) return null;
    const p = this.authenticate(conn, req);
    if (p === 'publisher') throw new RtspError(403, 'forbidden');
    if (!access.canView(p, stream)) throw new RtspError(403, `user '${p?.name ?? 'anonymous'}' may not view '${stream}'`);
    return p;
  }

  // ───────────────────────── readers ─────────────────────────

  private streamOf(name: string): Stream {
    const s = this.gateway.hub.get(name);
    if (!s || !name) throw new RtspError(404, `no stream '${name.slice(0, 100)}'`);
    return s;
  }

  /** Waits for the stream to be online with its parameter sets known (bounded by describeWaitMs). */
  private async waitReady(stream: Stream): Promise<void> {
    const ready = () =>
      stream.online &&
      stream.tracks.length > 0 &&
      stream.tracks.every((t) => (t.codec !== 'H264' && t.codec !== 'H265') || (t.params.sps && t.params.pps) || stream.lastKeyframe());
    if (ready()) return;
    const deadline = Date.now() + this.describeWaitMs;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (ready() || Date.now() >= deadline) {
          clearInterval(timer);
          stream.off('tracks', check);
          stream.off('online', check);
          resolve();
        }
      };
      const timer = setInterval(check, 100);
      stream.on('tracks', check);
      stream.on('online', check);
    });
    if (!stream.online || stream.tracks.length === 0) throw new RtspError(503, `stream '${stream.name}' is offline`);
  }

  private served(stream: Stream): ServedMedia[] {
    return stream.tracks.filter(canServe).map((t) => describeTrack(t)!).filter(Boolean);
  }

  private async describe(conn: Connection, req: RtspRequest, headers: RtspHeaders): Promise<Buffer> {
    const p = parseRequestPath(req.uri);
    if (!p) throw new RtspError(400, 'bad request URL');
    const stream = this.streamOf(p.path);
    this.authorizeView(conn, req, stream.name);
    // An on-demand camera connects for the DESCRIBE; the session that follows keeps it connected.
    const release = this.gateway.acquire(stream.name);
    try {
      await this.waitReady(stream);
    } finally {
      release();
    }
    const medias = this.served(stream);
    if (medias.length === 0) throw new RtspError(415, `stream '${stream.name}' has no track the restream can send`);
    const sdp = addAttributes(buildSdp({ sessionName: stream.name, origin: `- ${Date.now()} 1 IN IP4 ${conn.localAddress || '127.0.0.1'}`, medias }), medias);
    headers.set('Content-Type', 'application/sdp');
    headers.set('Content-Base', `${baseUrl(req.uri)}/`);
    return Buffer.from(sdp);
  }

  private async setup(conn: Connection, req: RtspRequest, headers: RtspHeaders): Promise<void> {
    const p = parseRequestPath(req.uri);
    if (!p) throw new RtspError(400, 'bad request URL');
    const th = req.headers.get('Transport');
    if (!th) throw new RtspError(400, 'Transport header missing');
    const specs = parseTransport(th);
    if (!specs.ok) throw new RtspError(461, specs.error);

    let s = req.headers.get('Session') !== undefined ? this.touchSession(req, conn, true) : undefined;
    if (!s && conn.announced && specs.value.some((x) => x.mode === 'record')) s = conn.announced;
    if (!s && conn.announced && (p.path === conn.announced.streamName || p.name === conn.announced.streamName)) s = conn.announced;

    if (s?.mode === 'record') return this.setupRecord(conn, s, p, specs.value, headers);
    if (specs.value.every((x) => x.mode === 'record')) throw new RtspError(455, 'mode=record needs an ANNOUNCE first');

    // Reader: `/<stream>/trackID=N`; a URL without a track means the only track (RFC 2326 C.1.1 style).
    let name = p.name;
    let trackId: number | undefined;
    if (p.control && /^trackID=\d+$/i.test(p.control)) trackId = Number(p.control.split('=')[1]);
    const stream = this.gateway.hub.get(name) ?? (p.control ? undefined : this.gateway.hub.get(p.path));
    if (!stream) throw new RtspError(404, `no stream '${name.slice(0, 100)}'`);
    name = stream.name;
    if (s && s.streamName !== name) throw new RtspError(455, 'a session reads one stream');
    const principal = this.authorizeView(conn, req, name);
    if (stream.tracks.length === 0) {
      const release = this.gateway.acquire(name);
      try {
        await this.waitReady(stream);
      } finally {
        release();
      }
    }
    const medias = this.served(stream);
    if (trackId === undefined) {
      if (medias.length !== 1) throw new RtspError(459, 'SETUP each track by its control URL');
      trackId = medias[0]!.trackId;
    }
    const media = medias.find((m) => m.trackId === trackId);
    if (!media) throw new RtspError(404, `no track ${trackId}`);
    if (s?.tracks.has(trackId)) throw new RtspError(455, `track ${trackId} already set up`);
    if (s && s.state === 'playing') throw new RtspError(455, 'SETUP while playing');

    const created = !s;
    if (!s) {
      if (this.sessions.size >= this.maxSessions) throw new RtspError(503, 'too many sessions');
      s = new Session(this, 'play', name, stream, conn, principal);
    }
    try {
      const spec = await this.chooseTransport(conn, s, specs.value, 'play', media.trackId);
      const t: SessionTrack = { id: media.trackId, control: media.control, ...spec.track };
      const info = stream.tracks[media.trackId]!;
      t.sender = newSenderTrack(info, media.payloadType);
      // Unicast readers share the stream's RTP numbering (one SSRC per track for all of them).
      if (t.transport !== 'multicast') t.sender.ssrc = this.streamRtp(stream).track(info, media.payloadType).ssrc;
      spec.reply.ssrc = t.sender.ssrc;
      if (t.transport === 'multicast' && s.multicast) {
        // Everyone in the group hears one sender: its SSRC, not this session's.
        const ssrc = s.multicast.ssrcOf(t.id);
        if (ssrc !== undefined) spec.reply.ssrc = ssrc;
      }
      s.tracks.set(t.id, t);
      this.bindTrack(conn, s, t);
      headers.set('Transport', formatTransport(spec.reply));
    } catch (e) {
      if (created) this.disposeUnregistered(s);
      throw e;
    }
    if (created) this.register(conn, s);
    s.state = 'ready';
    headers.set('Session', this.sessionHeader(s));
  }

  /** Picks the first Transport alternative we support (461 if none) and sets it up. */
  private async chooseTransport(
    conn: Connection,
    s: Session,
    specs: TransportSpec[],
    mode: 'play' | 'record',
    trackId: number,
  ): Promise<{ track: Omit<SessionTrack, 'id' | 'control'>; reply: TransportSpec }> {
    let why = 'no supported transport offered (RTP/AVP/TCP interleaved, RTP/AVP unicast or multicast)';
    for (const t of specs) {
      if (!/^RTP\/AVP(\/(TCP|UDP))?$/.test(t.profile)) {
        why = `profile ${t.profile} not supported`;
        continue;
      }
      const current = s.transport;
      if (this.opts.tls && t.lowerTransport !== 'TCP') {
        why = 'RTSPS carries media interleaved in the TLS connection only (RTP/AVP/TCP)';
        continue;
      }
      if (t.lowerTransport === 'TCP') {
        if (current && current !== 'tcp') continue;
        let ch = t.interleaved;
        // Honour the client's channels; pick free ones when it named none or they are taken.
        if (!ch || conn.channels.has(ch[0]) || conn.channels.has(ch[1])) {
          let c = 0;
          while (conn.channels.has(c) || conn.channels.has(c + 1)) c += 2;
          if (c > 254) throw new RtspError(453, 'no free interleaved channel');
          ch = [c, c + 1];
        }
        return { track: { transport: 'tcp', interleaved: ch }, reply: { profile: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: ch, ...(mode === 'record' ? { mode: 'record' } : {}) } };
      }
      if (t.delivery === 'multicast') {
        if (mode === 'record') {
          why = 'publishing over multicast is not supported';
          continue;
        }
        if (current && current !== 'multicast') continue;
        const g = s.multicast ?? (await this.mcast.acquire(s.stream, this.served(s.stream), this.senderOptions(`rtsp-mcast:${s.streamName}`)));
        if (!g) throw new RtspError(453, 'no free multicast group');
        s.multicast = g;
        this.mcast.hold(g, s);
        const ports = g.portsOf(trackId);
        if (!ports) throw new RtspError(404, `no track ${trackId}`);
        return {
          track: { transport: 'multicast' },
          reply: { profile: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'multicast', destination: g.address, port: ports, ttl: g.ttl },
        };
      }
      // UDP unicast: RTP goes to the address the request came from, never to a `destination`
      // parameter (that would make us a traffic reflector).
      if (current && current !== 'udp') continue;
      if (!t.clientPort) {
        why = 'UDP transport without client_port';
        continue;
      }
      const pair = await this.udpPool.allocate();
      if (!pair) throw new RtspError(453, 'no free server UDP port');
      return {
        track: { transport: 'udp', udp: pair, client: { address: conn.remoteAddress, rtpPort: t.clientPort[0], rtcpPort: t.clientPort[1] } },
        reply: {
          profile: 'RTP/AVP',
          lowerTransport: 'UDP',
          delivery: 'unicast',
          clientPort: t.clientPort,
          serverPort: [pair.rtpPort, pair.rtcpPort],
          ...(mode === 'record' ? { mode: 'record' } : {}),
        },
      };
    }
    throw new RtspError(461, why);
  }

  /** Wires a track's incoming packets (RTCP from readers, media from publishers) to its session. */
  private bindTrack(conn: Connection, s: Session, t: SessionTrack): void {
    if (t.transport === 'tcp' && t.interleaved) {
      conn.channels.set(t.interleaved[0], { session: s, track: t, rtcp: false });
      conn.channels.set(t.interleaved[1], { session: s, track: t, rtcp: true });
    } else if (t.transport === 'udp' && t.udp && t.client) {
      const from = t.client.address;
      const on = (rtcp: boolean) => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
        if (normalize(rinfo.address) !== from) return;
        this.onMedia(s, t, msg, rtcp);
      };
      t.udp.rtp.on('message', on(false));
      t.udp.rtcp.on('message', on(true));
    }
  }

  private register(conn: Connection, s: Session): void {
    this.sessions.set(s.id, s);
    conn.sessions.add(s);
    if (s.mode !== 'play') return;
    s.release = this.gateway.acquire(s.streamName);
    const viewer: ViewerSession & { rtsp: RtspSessionDetails } = {
      id: s.id,
      protocol: 'rtsp',
      stream: s.streamName,
      remoteAddress: conn.remoteAddress,
      ...(s.principal ? { user: s.principal.name } : {}),
      startedAt: new Date(),
      bytesSent: () => s.bytesSent(),
      kick: () => this.closeSession(s, 'kicked', true),
      rtsp: s.details,
    };
    Object.defineProperty(viewer, 'rtsp', { enumerable: true, get: () => this.refreshDetails(s) });
    s.unregister = this.gateway.sessions.add(viewer);
  }

  private disposeUnregistered(s: Session): void {
    for (const t of s.tracks.values()) t.udp?.close();
    if (s.multicast) this.mcast.release(s.multicast, s);
  }

  /** The RTP numbering all unicast readers of a stream share (lives as long as the stream object). */
  private streamRtp(stream: Stream): StreamRtp {
    let r = this.rtp.get(stream);
    if (!r) {
      r = new StreamRtp(stream);
      this.rtp.set(stream, r);
    }
    return r;
  }

  private senderOptions(label: string) {
    return { label, srIntervalMs: this.srIntervalMs, highWaterBytes: this.highWater, stuckTimeoutMs: this.stuckMs, maxQueueBytes: this.opts.readerQueueBytes ?? 4 * 1024 * 1024 };
  }

  private async play(conn: Connection, req: RtspRequest, headers: RtspHeaders): Promise<void> {
    const s = this.touchSession(req, conn, true)!;
    if (s.mode === 'record') throw new RtspError(455, 'PLAY on a publishing session');
    if (s.tracks.size === 0) throw new RtspError(455, 'nothing set up');
    headers.set('Session', this.sessionHeader(s));
    headers.set('Range', 'npt=now-');
    const base = baseUrl(req.uri).replace(/\/(trackID|streamid)=\d+$/i, '');
    if (s.state === 'playing') {
      // A repeated PLAY is a keepalive for some clients.
      return;
    }
    let info: { trackId: number; seq: number; rtptime: number }[];
    let start: (() => void) | undefined;
    if (s.transport === 'multicast' && s.multicast) {
      info = s.multicast.join(s).filter((i) => s.tracks.has(i.trackId));
      s.joinedMulticast = true;
    } else {
      let sink: InterleavedSink | DatagramSink;
      if (s.transport === 'tcp') {
        const tcp = (s.tcpSink ??= new InterleavedSink(conn.socket));
        for (const t of s.tracks.values()) if (t.interleaved) tcp.channels.set(t.id, t.interleaved);
        sink = tcp;
      } else {
        const udp = (s.udpSink ??= new DatagramSink());
        for (const t of s.tracks.values()) {
          if (t.udp && t.client) udp.dest.set(t.id, { rtpSocket: t.udp.rtp, rtcpSocket: t.udp.rtcp, address: t.client.address, rtpPort: t.client.rtpPort, rtcpPort: t.client.rtcpPort });
        }
        sink = udp;
      }
      const sender = new RtpSender(
        s.stream,
        [...s.tracks.values()].map((t) => t.sender!),
        sink,
        {
          ...this.senderOptions(`rtsp:${conn.remoteAddress}`),
          onEnd: (reason) => {
            if (reason === 'stuck') this.log.warn({ session: s.id, stream: s.streamName, remote: conn.remoteAddress }, 'rtsp reader stuck: disconnected');
            this.closeSession(s, reason === 'stuck' ? 'reader stuck' : reason, true);
          },
        },
        this.streamRtp(s.stream),
      );
      s.sender = sender;
      info = sender.prepare();
      start = () => sender.run();
    }
    headers.set('RTP-Info', info.map((i) => `url=${base}/trackID=${i.trackId};seq=${i.seq};rtptime=${i.rtptime}`).join(','));
    s.state = 'playing';
    if (start) afterResponse.set(headers, start);
  }

  // ───────────────────────── publishers ─────────────────────────

  private async announce(conn: Connection, req: RtspRequest, headers: RtspHeaders): Promise<void> {
    const p = parseRequestPath(req.uri);
    if (!p) throw new RtspError(400, 'bad request URL');
    const cam = this.gateway.cameraForStream(p.path);
    if (!cam) throw new RtspError(404, `no camera '${p.path.slice(0, 100)}'`);
    if (cam.config.url !== 'publisher' || cam.which !== 'main') throw new RtspError(403, `camera '${cam.id}' does not take publishers (its url is not 'publisher')`);
    this.authorizePublish(conn, req, cam.config.username, cam.config.password);
    const type = (req.headers.get('Content-Type') ?? 'application/sdp').toLowerCase();
    if (!type.startsWith('application/sdp')) throw new RtspError(415, 'ANNOUNCE needs an application/sdp body');
    const sdp = parseSdp(req.body);
    if (!sdp.ok) throw new RtspError(400, `bad SDP: ${sdp.error}`);
    const { usable, skipped } = publishableTracks(sdp.value.medias);
    if (usable.length === 0) throw new RtspError(415, `no track camgate can ingest (${skipped.join(', ') || 'none'})`);
    const source = await waitingPublisher(cam.stream, this.publisherWaitMs);
    if (!source) throw new RtspError(503, `camera '${cam.id}' is not ready for a publisher (disabled?)`);
    if (conn.announced) this.closeSession(conn.announced, 're-announced', false);
    if (this.sessions.size >= this.maxSessions) throw new RtspError(503, 'too many sessions');
    const s = new Session(this, 'record', cam.stream.name, cam.stream, conn, null);
    if (!source.claim(s)) throw new RtspError(409, `camera '${cam.id}' already has a publisher`);
    s.publisher = source;
    s.medias = sdp.value.medias;
    s.usable = usable;
    this.register(conn, s);
    conn.announced = s;
    headers.set('Session', this.sessionHeader(s));
    this.log.info({ camera: cam.id, remote: conn.remoteAddress, tracks: usable.length, skipped }, `rtsp publisher announced for ${cam.id}`);
  }

  /** Publishing needs the camera's own username/password when it has them, else an admin (or open access). */
  private authorizePublish(conn: Connection, req: RtspRequest, user: string | undefined, pass: string | undefined): void {
    const access = this.gateway.access;
    if (user === undefined && access.open) return;
    const lookup = user !== undefined ? (u: string) => (u === user ? (pass ?? '') : undefined) : undefined;
    const hadPrincipal = conn.principal;
    if (!req.headers.get('Authorization')) conn.principal = undefined; // publishers prove themselves per request
    const p = this.authenticate(conn, req, lookup);
    conn.principal = hadPrincipal;
    if (p === 'publisher') return;
    if (!access.isAdmin(p)) throw new RtspError(403, 'publishing needs the camera credentials or an admin user');
  }

  private async setupRecord(conn: Connection, s: Session, p: { path: string; control?: string }, specs: TransportSpec[], headers: RtspHeaders): Promise<void> {
    if (s.state === 'recording') throw new RtspError(455, 'SETUP while recording');
    // Match the URL against each media's control (`streamid=0`, `trackID=1`, or an absolute URL).
    let index = s.medias.findIndex((m, i) => !hasTrack(s, i) && m.control !== undefined && (p.path.endsWith(`/${m.control}`) || p.path === m.control || p.control === m.control));
    if (index < 0) index = s.medias.findIndex((_, i) => !hasTrack(s, i));
    if (index < 0) throw new RtspError(455, 'every track is set up already');
    const spec = await this.chooseTransport(conn, s, specs, 'record', index);
    const t: SessionTrack = { id: index, control: s.medias[index]!.control ?? '', ...spec.track };
    s.tracks.set(index, t);
    this.bindTrack(conn, s, t);
    s.state = 'ready';
    headers.set('Transport', formatTransport(spec.reply));
    headers.set('Session', this.sessionHeader(s));
  }

  private async record(conn: Connection, req: RtspRequest, headers: RtspHeaders): Promise<void> {
    const s = this.touchSession(req, conn, true)!;
    if (s.mode !== 'record' || !s.publisher) throw new RtspError(455, 'RECORD needs ANNOUNCE and SETUP');
    if (s.tracks.size === 0) throw new RtspError(455, 'nothing set up');
    if (s.state === 'recording') {
      headers.set('Session', this.sessionHeader(s));
      return;
    }
    const indices = [...s.tracks.keys()].filter((i) => s.usable.includes(i));
    const transport = s.transport === 'udp' ? 'udp' : 'tcp';
    if (!s.publisher.record(s, s.medias, indices, transport)) throw new RtspError(415, 'none of the set-up tracks can be ingested');
    s.state = 'recording';
    if (conn.announced === s) conn.announced = undefined;
    headers.set('Session', this.sessionHeader(s));
    this.log.info({ camera: s.streamName, remote: conn.remoteAddress, transport }, `rtsp publisher recording to ${s.streamName}`);
  }

  /**
   * RTCP receiver reports to publishers, on the RTCP channel (TCP) or port (UDP) of each recorded
   * track, at the sender-report interval: encoders that adapt to loss, and operators reading their
   * encoder's stats, see what camgate received.
   */
  private sendReceiverReports(): void {
    for (const s of this.sessions.values()) {
      if (s.mode !== 'record' || s.state !== 'recording' || !s.publisher) continue;
      for (const { index, block } of s.publisher.reportBlocks(s)) {
        const t = s.tracks.get(index);
        if (!t) continue;
        const rr = buildReceiverReport(s.rrSsrc, [block], 'camgate');
        try {
          if (t.transport === 'tcp' && t.interleaved && s.conn) s.conn.write(encodeInterleaved(t.interleaved[1], rr));
          else if (t.transport === 'udp' && t.udp && t.client) t.udp.rtcp.send(rr, t.client.rtcpPort, t.client.address);
        } catch {
          // a report that can't be sent is no reason to end the publisher's session
        }
      }
    }
  }

  // ───────────────────────── lifecycle ─────────────────────────

  private expire(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      if (now - s.lastActivity > this.sessionTimeoutMs) {
        this.log.info({ session: s.id, stream: s.streamName }, 'rtsp session timed out');
        this.closeSession(s, 'timeout', true);
      }
    }
  }

  /** Ends a session; `dropConnection` also closes its TCP connection (timeout, kick, stuck reader). */
  closeSession(s: Session, reason: string, dropConnection: boolean): void {
    if (s.closed) return;
    s.closed = true;
    this.sessions.delete(s.id);
    s.sender?.stop();
    if (s.multicast) this.mcast.release(s.multicast, s);
    for (const t of s.tracks.values()) t.udp?.close();
    const conn = s.conn;
    if (conn) {
      conn.sessions.delete(s);
      for (const [ch, v] of conn.channels) if (v.session === s) conn.channels.delete(ch);
      if (conn.announced === s) conn.announced = undefined;
    }
    if (s.publisher) {
      s.publisher.unclaim(s);
      s.publisher.end(s, reason);
    }
    s.unregister?.();
    s.release?.();
    if (dropConnection && conn && (s.transport === 'tcp' || s.mode === 'record')) conn.socket.destroy();
  }
}

function hasTrack(s: Session, i: number): boolean {
  return s.tracks.has(i);
}

/** Work to do right after a response is written (start RTP after PLAY's 200). */
const afterResponse = new WeakMap<RtspHeaders, () => void>();

/** The request URL without query and trailing slash (for Content-Base and RTP-Info). */
function baseUrl(uri: string): string {
  const q = uri.indexOf('?');
  return (q >= 0 ? uri.slice(0, q) : uri).replace(/\/+$/, '');
}
