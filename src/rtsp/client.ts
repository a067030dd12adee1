/**
 * RTSP 1.0 client (RFC 2326) for pulling IP cameras: OPTIONS → DESCRIBE (3xx followed) → SETUP per
 * track → PLAY, then keepalives until stop() sends TEARDOWN.
 *
 * Design notes (why it looks like this):
 * - One control connection per attempt with a single demultiplexer from the first byte: cameras
 *   interleave `$` frames, responses and their own requests in any order (QUIRKS Q05–Q07).
 * - Nothing thrown from a socket handler: parse failures become counted/logged events, and
 *   request failures reject the one promise that waits for them.
 * - Every string that can reach a log, an event or an error passes through `redact()`; the
 *   password never leaves this object except inside an Authorization header.
 * - 'auto' transport tries UDP, then redoes the whole session over TCP on a fresh connection when
 *   UDP is refused or silent (QUIRKS Q29, with re-auth per connection for Q13).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { RtspDemuxer, RtspHeaders, serializeRequest, serializeResponse, encodeInterleaved, statusText } from './message.ts';
import type { DemuxEvent } from './message.ts';
import { parseTransport } from './headers/transport.ts';
import type { TransportSpec } from './headers/transport.ts';
import { parseSession } from './headers/session.ts';
import { parseRtpInfo } from './headers/rtpinfo.ts';
import { parsePublic } from './headers/public.ts';
import { parseRtspUrl, joinControl, resolveBaseUrl } from './url.ts';
import type { RtspUrl } from './url.ts';
import { ClientAuthenticator } from './auth.ts';
import { redactSecrets } from '../util/redact.ts';
import { parseSdp, isBackchannel } from '../sdp/index.ts';
import type { SdpMedia, SessionDescription } from '../sdp/index.ts';
import { RtspError } from './errors.ts';
import { openUdpPair, openMulticastPair, normalizeAddress } from './udp.ts';
import type { UdpPair } from './udp.ts';

export { RtspError } from './errors.ts';
export type { RtspErrorKind } from './errors.ts';

type LogFn = (o: object | string, msg?: string) => void;
export interface RtspClientLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface RtspClientOptions {
  /** may carry userinfo; it is stripped before anything goes on the wire */
  url: string;
  /** overrides the URL's userinfo */
  credentials?: { username: string; password: string };
  transport: 'auto' | 'tcp' | 'udp' | 'multicast';
  /** per request; default 10000 (slow NVRs and battery cameras, QUIRKS Q25) */
  requestTimeoutMs?: number;
  /** auto: UDP → TCP when no RTP arrives within this after PLAY; default 3000 */
  udpFirstPacketTimeoutMs?: number;
  /** always sent: some cameras 401 requests without one (QUIRKS Q14) */
  userAgent?: string;
  /** default 5 (QUIRKS Q26) */
  maxRedirects?: number;
  /** after PLAY: no RTP/RTCP at all for this long ⇒ 'close' with a timeout error; default 10000 */
  mediaTimeoutMs?: number;
  /** which medias to SETUP; default: every video/audio media that is not a backchannel (Q34) */
  selectMedia?: (m: SdpMedia, s: SessionDescription) => boolean;
  /** pino-compatible; every message passes through redactSecrets */
  logger?: RtspClientLogger;
}

export interface RtspTrack {
  index: number;
  media: SdpMedia;
  controlUrl: string;
  transport: TransportSpec;
  ssrc?: number;
  rtpInfo?: { seq?: number; rtptime?: number };
}

export interface RtspSessionInfo {
  /** redacted */
  url: string;
  session: SessionDescription;
  tracks: RtspTrack[];
  transport: 'tcp' | 'udp' | 'multicast';
  sessionId: string;
  timeoutSec: number;
  keepaliveMethod: 'GET_PARAMETER' | 'OPTIONS';
  server?: string;
  /** human-readable names of every workaround applied */
  quirks: string[];
}

/** counters for things we drop instead of failing on (nothing is dropped silently) */
export interface RtspClientStats {
  rtpPackets: number;
  rtcpPackets: number;
  unknownChannelFrames: number;
  garbageBytes: number;
  foreignUdpPackets: number;
  unmatchedResponses: number;
  serverRequests: number;
  keepalivesSent: number;
  keepaliveFailures: number;
}

const DEFAULT_USER_AGENT = 'camgate/0.1';
const TEARDOWN_WAIT_MS = 1500;
const DEFAULT_SESSION_TIMEOUT_S = 60;

interface RtspResponse {
  statusCode: number;
  reason: string;
  headers: RtspHeaders;
  body: Buffer;
}

interface PendingRequest {
  method: string;
  resolve: (r: RtspResponse) => void;
  reject: (e: RtspError) => void;
  timer: NodeJS.Timeout;
}

interface ConnectionHooks {
  onInterleaved(channel: number, payload: Buffer): void;
  onRequest(ev: Extract<DemuxEvent, { type: 'request' }>): void;
  onGone(e: RtspError): void;
  onQuirk(name: string): void;
  onGarbage(skipped: number, error: string): void;
  onUnmatched(statusCode: number): void;
}

/** Thrown inside an auto-transport UDP attempt to ask for the TCP retry (QUIRKS Q29). */
class TransportFallback extends Error {}

/**
 * The RTSP control connection: one socket, one demuxer, requests matched to responses by CSeq.
 */
class ControlConnection {
  private readonly demuxer = new RtspDemuxer();
  private nextCseq = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private gone?: RtspError;
  private sniffedLineEndings = false;

  constructor(
    readonly socket: net.Socket,
    private readonly hooks: ConnectionHooks,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(new RtspError('network', `control connection error: ${e.message}`)));
    socket.on('close', () => this.fail(new RtspError('network', 'control connection closed by the server')));
  }

  get serverAddress(): string {
    return normalizeAddress(this.socket.remoteAddress);
  }
  get localAddress(): string {
    return normalizeAddress(this.socket.localAddress);
  }
  get isGone(): boolean {
    return this.gone !== undefined;
  }

  send(method: string, uri: string, headers: [string, string][], body: Buffer | undefined, timeoutMs: number): Promise<RtspResponse> {
    if (this.gone) return Promise.reject(this.gone);
    const cseq = this.nextCseq++;
    const h = new RtspHeaders([['CSeq', String(cseq)], ...headers]);
    const bytes = serializeRequest({ method, uri, headers: h, body });
    return new Promise<RtspResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cseq);
        reject(new RtspError('timeout', `${method} got no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(cseq, { method, resolve, reject, timer });
      this.write(bytes);
    });
  }

  write(bytes: Buffer): void {
    if (this.gone || this.socket.destroyed) return;
    this.socket.write(bytes);
  }

  close(): void {
    this.fail(new RtspError('network', 'connection closed by client'));
  }

  private fail(e: RtspError): void {
    if (this.gone) return;
    this.gone = e;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
    if (!this.socket.destroyed) this.socket.destroy();
    this.hooks.onGone(e);
  }

  private onData(chunk: Buffer): void {
    if (this.gone) return;
    if (!this.sniffedLineEndings && chunk.length > 5 && chunk.toString('latin1', 0, 5) === 'RTSP/') {
      // the demuxer accepts bare LF; we only record that this camera needs it (QUIRKS Q02)
      this.sniffedLineEndings = true;
      const lf = chunk.indexOf(0x0a);
      if (lf > 0 && chunk[lf - 1] !== 0x0d) this.hooks.onQuirk('LF-only line endings');
    }
    let events: DemuxEvent[];
    try {
      events = this.demuxer.push(chunk);
    } catch (e) {
      // the demuxer contract is "never throws"; if it does, the stream is unrecoverable
      this.fail(new RtspError('protocol', `RTSP demuxer failure: ${(e as Error).message}`));
      return;
    }
    for (const ev of events) {
      if (this.gone) return;
      switch (ev.type) {
        case 'interleaved':
          this.hooks.onInterleaved(ev.channel, ev.payload);
          break;
        case 'response':
          this.onResponse(ev);
          break;
        case 'request':
          this.hooks.onRequest(ev);
          break;
        case 'error':
          this.hooks.onGarbage(ev.skipped, ev.error);
          break;
      }
    }
  }

  private onResponse(ev: Extract<DemuxEvent, { type: 'response' }>): void {
    const raw = ev.headers.get('CSeq'); // RtspHeaders is case-insensitive: `Cseq` works too (Q03)
    const cseq = raw === undefined ? NaN : Number.parseInt(raw.trim(), 10);
    let key: number | undefined;
    if (this.pending.has(cseq)) key = cseq;
    else if (this.pending.size === 1) {
      // response without (or with a wrong) CSeq while exactly one request is outstanding (Q19 Tapo)
      key = this.pending.keys().next().value;
      this.hooks.onQuirk(raw === undefined ? 'response without CSeq' : 'response with mismatched CSeq');
    }
    if (key === undefined) {
      this.hooks.onUnmatched(ev.statusCode);
      return;
    }
    const p = this.pending.get(key)!;
    this.pending.delete(key);
    clearTimeout(p.timer);
    // Q01: status line without reason phrase — never key logic off the reason text
    if (!ev.reason) this.hooks.onQuirk('status line without reason phrase');
    p.resolve({
      statusCode: ev.statusCode,
      reason: ev.reason ?? '',
      headers: ev.headers,
      body: ev.body ?? Buffer.alloc(0),
    });
  }
}

interface TrackState {
  track: RtspTrack;
  /** interleaved channels (TCP) */
  channels?: [number, number];
  udp?: UdpPair;
  serverRtpPort?: number;
  serverRtcpPort?: number;
  /** multicast destination (RTCP goes to group:port+1) */
  group?: string;
}

/** One connection's worth of session state; a redirect or a transport fallback makes a new one. */
interface Attempt {
  conn: ControlConnection;
  url: RtspUrl;
  transport: 'tcp' | 'udp' | 'multicast';
  auth?: ClientAuthenticator;
  /** true once we sent an Authorization header on this connection */
  publicMethods?: Set<string>;
  server?: string;
  session?: SessionDescription;
  baseUrl: string;
  sessionId?: string;
  timeoutSec: number;
  tracks: TrackState[];
  channelMap: Map<number, { track: number; rtcp: boolean }>;
  playPending: boolean;
  rtpReceived: number;
  lastMediaAt: number;
  keepaliveMethod: 'GET_PARAMETER' | 'OPTIONS';
  closed: boolean;
}

const isTwoXX = (code: number) => code >= 200 && code < 300;

export class RtspClient extends EventEmitter {
  private readonly opts: RtspClientOptions;
  private readonly initialUrl?: RtspUrl;
  private readonly urlError?: string;
  private readonly credentials?: { username: string; password: string };
  private readonly secrets: string[];
  private readonly quirkList: string[] = [];
  private startPromise?: Promise<RtspSessionInfo>;
  private active?: Attempt;
  private attempts = new Set<Attempt>();
  private started = false;
  private stopped = false;
  private closeEmitted = false;
  private keepaliveTimer?: NodeJS.Timeout;
  private livenessTimer?: NodeJS.Timeout;
  private readonly statsCounters: RtspClientStats = {
    rtpPackets: 0,
    rtcpPackets: 0,
    unknownChannelFrames: 0,
    garbageBytes: 0,
    foreignUdpPackets: 0,
    unmatchedResponses: 0,
    serverRequests: 0,
    keepalivesSent: 0,
    keepaliveFailures: 0,
  };

  constructor(opts: RtspClientOptions) {
    super();
    this.opts = opts;
    const parsed = parseRtspUrl(opts.url);
    if (parsed.ok) {
      this.initialUrl = parsed.value;
      this.credentials = opts.credentials ?? parsed.value.credentials;
    } else {
      this.urlError = parsed.error;
      this.credentials = opts.credentials;
    }
    const pw = this.credentials?.password;
    this.secrets = pw ? [...new Set([pw, encodeURIComponent(pw)])] : [];
  }

  get stats(): Readonly<RtspClientStats> {
    return this.statsCounters;
  }

  get quirks(): readonly string[] {
    return this.quirkList;
  }

  start(): Promise<RtspSessionInfo> {
    this.startPromise ??= this.doStart();
    return this.startPromise;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    const live = [...this.attempts];
    await Promise.all(live.map((a) => this.teardownAndClose(a)));
  }

  sendRtcp(trackIndex: number, packet: Buffer): void {
    const a = this.active;
    if (!a || a.closed) return;
    const t = a.tracks[trackIndex];
    if (!t) return;
    if (a.transport === 'tcp') {
      if (t.channels && packet.length <= 0xffff) a.conn.write(encodeInterleaved(t.channels[1], packet));
    } else if (a.transport === 'udp') {
      // without a server RTCP port we have nowhere to send reports (Q28)
      if (t.udp && t.serverRtcpPort) t.udp.send(true, packet, t.serverRtcpPort, a.conn.serverAddress);
    } else if (t.udp && t.group) {
      t.udp.send(true, packet, t.udp.rtcpPort, t.group);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // session establishment

  private async doStart(): Promise<RtspSessionInfo> {
    if (!this.initialUrl) throw new RtspError('protocol', this.redact(`invalid RTSP URL: ${this.urlError ?? ''}`));
    const order: ('tcp' | 'udp' | 'multicast')[] = this.opts.transport === 'auto' ? ['udp', 'tcp'] : [this.opts.transport];
    for (let i = 0; i < order.length; i++) {
      const transport = order[i]!;
      const canFallBack = this.opts.transport === 'auto' && i < order.length - 1;
      let attempt: Attempt | undefined;
      try {
        attempt = await this.establish(transport, canFallBack);
      } catch (e) {
        if (this.stopped) throw this.stoppedError();
        if (canFallBack && e instanceof TransportFallback) {
          this.quirk(`UDP→TCP fallback: ${e.message}`);
          continue;
        }
        throw e instanceof RtspError ? e : new RtspError('protocol', this.redact(String((e as Error)?.message ?? e)));
      }
      if (canFallBack && transport === 'udp') {
        const waitMs = this.opts.udpFirstPacketTimeoutMs ?? 3000;
        const got = await this.waitFirstPacket(attempt, waitMs);
        if (this.stopped) throw this.stoppedError();
        if (!got) {
          this.quirk(`UDP→TCP fallback: no RTP in ${+(waitMs / 1000).toFixed(1)} s`);
          this.log('warn', `no RTP over UDP within ${waitMs} ms from ${this.display(attempt.url)}, retrying over TCP`);
          await this.teardownAndClose(attempt);
          continue;
        }
      }
      if (this.stopped) {
        await this.teardownAndClose(attempt);
        throw this.stoppedError();
      }
      return this.goLive(attempt);
    }
    throw new RtspError('network', this.redact(`no transport worked for ${this.display(this.initialUrl)}`));
  }

  private stoppedError(): RtspError {
    return new RtspError('network', 'client stopped');
  }

  private goLive(a: Attempt): RtspSessionInfo {
    this.active = a;
    this.started = true;
    a.lastMediaAt = Date.now();
    // GET_PARAMETER when advertised (VLC's server needs it), else OPTIONS (Q19)
    a.keepaliveMethod = a.publicMethods?.has('GET_PARAMETER') ? 'GET_PARAMETER' : 'OPTIONS';
    const periodMs = (Math.min(a.timeoutSec, 60) / 2) * 1000;
    this.keepaliveTimer = setInterval(() => this.sendKeepalive(a), Math.max(500, periodMs));
    const mediaTimeoutMs = this.opts.mediaTimeoutMs ?? 10_000;
    this.livenessTimer = setInterval(
      () => {
        if (Date.now() - a.lastMediaAt > mediaTimeoutMs) {
          this.sessionDied(a, new RtspError('timeout', this.redact(`no RTP/RTCP for ${mediaTimeoutMs / 1000} s from ${this.display(a.url)} (camera hung?)`)));
        }
      },
      Math.min(1000, Math.max(100, mediaTimeoutMs / 4)),
    );
    this.log('info', `streaming ${this.display(a.url)} over ${a.transport} (${a.tracks.length} tracks)`);
    return {
      url: this.display(a.url),
      session: a.session!,
      tracks: a.tracks.map((t) => t.track),
      transport: a.transport,
      sessionId: a.sessionId ?? '',
      timeoutSec: a.timeoutSec,
      get keepaliveMethod() {
        return a.keepaliveMethod;
      },
      server: a.server,
      quirks: this.quirkList,
    };
  }

  /** OPTIONS/DESCRIBE with redirects, then SETUP and PLAY, on fresh connections. */
  private async establish(transport: 'tcp' | 'udp' | 'multicast', canFallBack: boolean): Promise<Attempt> {
    let url = this.initialUrl!;
    const maxRedirects = this.opts.maxRedirects ?? 5;
    for (let hop = 0; ; hop++) {
      const a = await this.openAttempt(url, transport);
      try {
        const next = await this.describe(a);
        if (next) {
          // Q26: 3xx — new TCP connection per hop, credentials carried, bounded
          await this.closeAttempt(a);
          if (hop + 1 > maxRedirects) {
            throw new RtspError('redirect-loop', this.redact(`more than ${maxRedirects} redirects starting at ${this.display(this.initialUrl!)}`));
          }
          this.quirk('redirect followed');
          this.log('info', `redirected to ${this.display(next)}`);
          url = next;
          continue;
        }
        await this.setupAll(a, canFallBack);
        await this.play(a);
        return a;
      } catch (e) {
        await this.closeAttempt(a);
        throw e;
      }
    }
  }

  private async openAttempt(url: RtspUrl, transport: 'tcp' | 'udp' | 'multicast'): Promise<Attempt> {
    if (this.stopped) throw this.stoppedError();
    const socket = await this.connect(url);
    const a: Attempt = {
      conn: undefined as unknown as ControlConnection,
      url,
      transport,
      baseUrl: url.href,
      timeoutSec: DEFAULT_SESSION_TIMEOUT_S,
      tracks: [],
      channelMap: new Map(),
      playPending: false,
      rtpReceived: 0,
      lastMediaAt: Date.now(),
      keepaliveMethod: 'OPTIONS',
      closed: false,
    };
    a.conn = new ControlConnection(socket, {
      onInterleaved: (ch, payload) => this.onInterleaved(a, ch, payload),
      onRequest: (ev) => this.onServerRequest(a, ev),
      onGone: (e) => {
        if (!a.closed) this.sessionDied(a, new RtspError(e.kind, this.redact(`${e.message} (${this.display(a.url)})`)));
      },
      onQuirk: (name) => this.quirk(name),
      onGarbage: (skipped, error) => {
        this.statsCounters.garbageBytes += skipped;
        this.quirk('garbage on the control connection skipped');
        this.log('debug', `skipped ${skipped} bytes on the control connection: ${error}`);
      },
      onUnmatched: (code) => {
        this.statsCounters.unmatchedResponses++;
        this.log('debug', `dropped a ${code} response matching no pending request`);
      },
    });
    this.attempts.add(a);
    if (this.stopped) {
      await this.closeAttempt(a);
      throw this.stoppedError();
    }
    return a;
  }

  private connect(url: RtspUrl): Promise<net.Socket> {
    const host = url.host.replace(/^\[(.*)\]$/, '$1');
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    return new Promise<net.Socket>((resolve, reject) => {
      const secure = url.scheme === 'rtsps';
      const socket: net.Socket = secure
        ? tls.connect({ host, port: url.port, servername: net.isIP(host) ? undefined : host })
        : net.connect({ host, port: url.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RtspError('timeout', this.redact(`connecting to ${this.display(url)} timed out after ${timeoutMs} ms`)));
      }, timeoutMs);
      const onError = (e: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new RtspError('network', this.redact(`cannot connect to ${this.display(url)}: ${e.message}`)));
      };
      socket.once('error', onError);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(socket);
      });
    });
  }

  /** OPTIONS then DESCRIBE. Returns the redirect target for a 3xx, else undefined (SDP stored on `a`). */
  private async describe(a: Attempt): Promise<RtspUrl | undefined> {
    // OPTIONS: failure is not fatal (not every server implements it); 3xx is a redirect (Q26)
    try {
      const res = await this.request(a, 'OPTIONS', a.url.href);
      if (res.statusCode >= 300 && res.statusCode < 400) {
        const loc = this.redirectTarget(a, res);
        if (loc) return loc;
      }
      if (isTwoXX(res.statusCode)) {
        const pub = res.headers.get('Public');
        if (pub !== undefined) a.publicMethods = parsePublic(pub);
      } else {
        this.log('debug', `OPTIONS answered ${res.statusCode}; continuing`);
      }
      a.server ??= res.headers.get('Server');
    } catch (e) {
      if (e instanceof RtspError && (e.kind === 'auth' || e.kind === 'network' || e.kind === 'timeout')) throw e;
      this.log('debug', `OPTIONS failed: ${(e as Error).message}; continuing`);
    }

    const res = await this.request(a, 'DESCRIBE', a.url.href, [['Accept', 'application/sdp']]);
    a.server ??= res.headers.get('Server');
    if (res.statusCode >= 300 && res.statusCode < 400) {
      const loc = this.redirectTarget(a, res);
      if (loc) return loc;
      throw this.statusError(a, 'DESCRIBE', res);
    }
    if (!isTwoXX(res.statusCode)) throw this.statusError(a, 'DESCRIBE', res);

    const body = res.body.toString('utf8');
    const ctype = res.headers.get('Content-Type');
    if (ctype === undefined) {
      // Q03: DESCRIBE without Content-Type but with an SDP body
      if (!/^\s*v=0/.test(body)) throw new RtspError('protocol', this.redact(`DESCRIBE reply from ${this.display(a.url)} has no Content-Type and no SDP`));
      this.quirk('DESCRIBE without Content-Type');
    } else if (ctype.split(';')[0]!.trim().toLowerCase() !== 'application/sdp') {
      throw new RtspError('protocol', this.redact(`DESCRIBE reply from ${this.display(a.url)} has Content-Type ${ctype}, expected application/sdp`));
    }
    const sdp = parseSdp(body);
    if (!sdp.ok) throw new RtspError('protocol', this.redact(`invalid SDP from ${this.display(a.url)}: ${sdp.error}`));
    a.session = sdp.value;
    for (const w of sdp.value.warnings) this.log('debug', `SDP: ${w}`);

    const base = resolveBaseUrl({
      requestUrl: a.url.href,
      sessionControl: sdp.value.control,
      contentBase: res.headers.get('Content-Base'),
      contentLocation: res.headers.get('Content-Location'),
    });
    a.baseUrl = this.forceAuthority(a, this.stripUserinfo(unwrapUrl(base) ?? a.url.href), 'base URL with foreign host rewritten');
    return undefined;
  }

  private redirectTarget(a: Attempt, res: RtspResponse): RtspUrl | undefined {
    const location = res.headers.get('Location')?.trim();
    if (!location) return undefined;
    const abs = location.startsWith('/') ? `${a.url.scheme}://${a.url.host}:${a.url.port}${location}` : location;
    const parsed = parseRtspUrl(abs);
    if (!parsed.ok) throw new RtspError('protocol', this.redact(`redirect to an invalid URL: ${parsed.error}`), res.statusCode);
    // never downgrade rtsps → rtsp on a redirect (Q26)
    if (a.url.scheme === 'rtsps' && parsed.value.scheme !== 'rtsps') {
      throw new RtspError('protocol', this.redact(`refused TLS downgrade redirect from ${this.display(a.url)} to ${this.display(parsed.value)}`), res.statusCode);
    }
    return parsed.value;
  }

  private selectMedias(s: SessionDescription): SdpMedia[] {
    const pick = this.opts.selectMedia ?? ((m: SdpMedia, sd: SessionDescription) => (m.kind === 'video' || m.kind === 'audio') && !isBackchannel(m, sd));
    return s.medias.filter((m) => {
      try {
        return pick(m, s);
      } catch {
        return false;
      }
    });
  }

  private async setupAll(a: Attempt, canFallBack: boolean): Promise<void> {
    const medias = this.selectMedias(a.session!);
    if (medias.length === 0) throw new RtspError('no-media', this.redact(`no usable media in the SDP of ${this.display(a.url)}`));
    for (const [index, media] of medias.entries()) {
      await this.setupTrack(a, index, media, canFallBack);
    }
  }

  private controlUrlFor(a: Attempt, media: SdpMedia): string {
    const control = media.control;
    const authority = { host: a.url.host, port: a.url.port };
    if (control && /^rtsps?:\/\//i.test(control)) {
      const c = parseRtspUrl(control);
      if (c.ok && (c.value.host !== a.url.host || c.value.port !== a.url.port)) {
        // Q18: absolute control URL naming an address we did not dial (NAT, 127.0.0.1)
        this.quirk('absolute control URL with foreign host rewritten');
      }
    }
    return this.stripUserinfo(unwrapUrl(joinControl(a.baseUrl, control, authority)) ?? a.baseUrl);
  }

  private async setupTrack(a: Attempt, index: number, media: SdpMedia, canFallBack: boolean): Promise<void> {
    const controlUrl = this.controlUrlFor(a, media);
    const state: TrackState = {
      track: { index, media, controlUrl, transport: { profile: 'RTP/AVP', lowerTransport: a.transport === 'tcp' ? 'TCP' : 'UDP' } as TransportSpec },
    };
    let requested: string;
    if (a.transport === 'tcp') {
      requested = `RTP/AVP/TCP;unicast;interleaved=${2 * index}-${2 * index + 1}`;
    } else if (a.transport === 'udp') {
      let pair: UdpPair;
      try {
        pair = await openUdpPair(a.conn.localAddress || '0.0.0.0');
      } catch (e) {
        throw new RtspError('network', `cannot bind UDP ports: ${(e as Error).message}`);
      }
      state.udp = pair;
      this.wireUdp(a, index, pair);
      requested = `RTP/AVP;unicast;client_port=${pair.rtpPort}-${pair.rtcpPort}`;
    } else {
      requested = 'RTP/AVP;multicast';
    }
    // never `mode=play`: some servers reject it (Q48)
    a.tracks.push(state);

    const res = await this.request(a, 'SETUP', controlUrl, [['Transport', requested]]);
    if (res.statusCode === 461 && canFallBack) throw new TransportFallback('461 Unsupported Transport');
    if (!isTwoXX(res.statusCode)) throw this.statusError(a, 'SETUP', res);

    const sessionHeader = res.headers.get('Session');
    if (sessionHeader !== undefined) {
      const s = parseSession(sessionHeader);
      if (s.ok) {
        if (a.sessionId === undefined) {
          a.sessionId = s.value.id;
          a.timeoutSec = s.value.timeout && s.value.timeout > 0 ? s.value.timeout : DEFAULT_SESSION_TIMEOUT_S;
        } else if (s.value.id !== a.sessionId) {
          this.log('warn', `SETUP for track ${index} returned another session id; keeping the first`);
        }
      } else {
        this.log('warn', `unparseable Session header: ${s.error}`);
      }
    } else if (a.sessionId === undefined) {
      this.log('warn', 'SETUP reply without Session header');
    }

    const th = res.headers.get('Transport');
    let spec: TransportSpec | undefined;
    if (th !== undefined) {
      const parsed = parseTransport(th);
      if (parsed.ok) spec = parsed.value[0];
      else this.log('warn', `unparseable Transport in SETUP reply: ${parsed.error}`);
    }
    if (spec) state.track.transport = spec;
    const ssrc = spec ? parseSsrc((spec as { ssrc?: unknown }).ssrc) : undefined;
    if (ssrc !== undefined) state.track.ssrc = ssrc;

    if (a.transport === 'tcp') {
      if (spec && spec.lowerTransport !== 'TCP') {
        throw new RtspError('protocol', this.redact(`server answered a TCP SETUP with ${th ?? 'no transport'} (${this.display(a.url)})`));
      }
      const ch = spec?.interleaved ?? ([2 * index, 2 * index + 1] as [number, number]);
      if (!spec?.interleaved) this.quirk('SETUP reply without interleaved channels: using the requested ones');
      if (!isChannel(ch[0]) || !isChannel(ch[1])) throw new RtspError('protocol', `invalid interleaved channels ${ch[0]}-${ch[1]}`);
      for (const c of ch) {
        if (a.channelMap.has(c)) throw new RtspError('protocol', `interleaved channel ${c} assigned twice`);
      }
      state.channels = [ch[0], ch[1]];
      a.channelMap.set(ch[0], { track: index, rtcp: false });
      if (ch[1] !== ch[0]) a.channelMap.set(ch[1], { track: index, rtcp: true });
    } else if (a.transport === 'udp') {
      if (spec && spec.lowerTransport === 'TCP') {
        // Q29: UDP request answered with a TCP transport
        if (canFallBack) throw new TransportFallback('server answered the UDP SETUP with TCP');
        throw new RtspError('protocol', this.redact(`server answered a UDP SETUP with TCP transport (${this.display(a.url)})`));
      }
      const sp = spec?.serverPort;
      if (sp && sp[0] > 0 && sp[0] < 65536) {
        state.serverRtpPort = sp[0];
        state.serverRtcpPort = sp[1] > 0 && sp[1] < 65536 && sp[1] !== sp[0] ? sp[1] : sp[0] + 1;
        if (!(sp[1] > 0) || sp[1] === sp[0]) this.quirk('single server_port');
      } else {
        // Q28: server_port missing or 0 — accept media from any port of the server IP
        this.quirk('no server_port: accepting UDP from any port of the server');
      }
      const src = spec?.source?.trim();
      if (src && normalizeAddress(src) !== a.conn.serverAddress) {
        // Q18: Transport source= naming an address that is not the RTSP peer (127.0.0.1, 0.0.0.0…)
        this.quirk('Transport source= ignored (not the RTSP peer)');
      }
      this.punch(a, state);
    } else {
      if (spec && spec.delivery !== 'multicast') {
        throw new RtspError('protocol', this.redact(`server answered a multicast SETUP with ${th ?? 'no transport'}`));
      }
      const group = spec?.destination?.trim() || media.connection?.address || a.session?.connection?.address;
      const port = spec?.port?.[0] ?? media.port;
      if (!group || !net.isIP(group)) throw new RtspError('protocol', 'multicast SETUP without a usable destination');
      if (!spec?.destination) this.quirk('multicast group taken from SDP c=');
      let pair: UdpPair;
      try {
        pair = await openMulticastPair(group, port, a.conn.localAddress);
      } catch (e) {
        throw new RtspError('network', `cannot join multicast ${group}:${port}: ${(e as Error).message}`);
      }
      state.udp = pair;
      state.group = group;
      this.wireUdp(a, index, pair);
    }
  }

  private wireUdp(a: Attempt, index: number, pair: UdpPair): void {
    pair.onError = (e) => {
      // ICMP port-unreachable answering our punch packets (Q29)
      if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return;
      this.log('debug', `UDP socket error on track ${index}: ${e.message}`);
    };
    pair.onPacket = (rtcp, d) => {
      if (a.closed) return;
      // only the camera we talk to may feed this session
      if (d.address !== a.conn.serverAddress) {
        this.statsCounters.foreignUdpPackets++;
        return;
      }
      const t = a.tracks[index];
      if (t && !rtcp && t.serverRtpPort && d.port !== t.serverRtpPort) {
        // Q28: media from a port other than the advertised server_port
        this.quirk('UDP media from a port other than server_port');
      }
      this.deliver(a, index, rtcp, d.payload);
    };
  }

  /** NAT punch: open the path from the camera's ports to ours (Q29) */
  private punch(a: Attempt, t: TrackState): void {
    if (!t.udp || !t.serverRtpPort || !t.serverRtcpPort) return;
    const rtp = Buffer.alloc(12);
    rtp[0] = 0x80;
    // RTCP RR with no report blocks (RFC 3550 §6.4.2), SSRC 0
    const rr = Buffer.from([0x80, 0xc9, 0x00, 0x01, 0, 0, 0, 0]);
    t.udp.send(false, rtp, t.serverRtpPort, a.conn.serverAddress);
    t.udp.send(true, rr, t.serverRtcpPort, a.conn.serverAddress);
  }

  private async play(a: Attempt): Promise<void> {
    a.playPending = true;
    let res: RtspResponse;
    try {
      // Range is mandatory on some servers (Q48)
      res = await this.request(a, 'PLAY', a.baseUrl, [['Range', 'npt=0.000-']]);
    } finally {
      a.playPending = false;
    }
    if (!isTwoXX(res.statusCode)) throw this.statusError(a, 'PLAY', res);
    const info = res.headers.get('RTP-Info');
    if (info !== undefined) {
      const parsed = parseRtpInfo(info);
      if (parsed.ok) this.applyRtpInfo(a, parsed.value);
      else this.log('debug', `unparseable RTP-Info: ${parsed.error}`);
    }
    for (const t of a.tracks) this.punch(a, t);
  }

  /** RTP-Info is advisory (Q45): match by URL, by path suffix, or by position. */
  private applyRtpInfo(a: Attempt, entries: { url: string; seq?: number; rtptime?: number }[]): void {
    const used = new Set<number>();
    const pathOf = (u: string) => u.replace(/^rtsps?:\/\/[^/]*/i, '').replace(/\/+$/, '');
    for (const e of entries) {
      let t = a.tracks.find((x) => !used.has(x.track.index) && x.track.controlUrl === e.url);
      t ??= a.tracks.find((x) => {
        if (used.has(x.track.index)) return false;
        const p = pathOf(e.url);
        const c = pathOf(x.track.controlUrl);
        return p.length > 0 && (c === p || c.endsWith(p.startsWith('/') ? p : `/${p}`) || p.endsWith(c));
      });
      if (!t && entries.length === a.tracks.length) t = a.tracks[entries.indexOf(e)];
      if (!t) continue;
      used.add(t.track.index);
      const ri: { seq?: number; rtptime?: number } = {};
      if (e.seq !== undefined) ri.seq = e.seq;
      if (e.rtptime !== undefined) ri.rtptime = e.rtptime;
      t.track.rtpInfo = ri;
    }
  }

  private waitFirstPacket(a: Attempt, ms: number): Promise<boolean> {
    if (a.rtpReceived > 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(v);
      };
      const timer = setTimeout(() => done(a.rtpReceived > 0), ms);
      const poll = setInterval(() => {
        if (a.rtpReceived > 0) done(true);
        else if (a.closed || this.stopped) done(false);
      }, 20);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // requests

  /**
   * Send a request on the attempt's connection; a 401 to ANY request is answered with the
   * challenge and one resend (Q13), stale nonces and scheme fallbacks are retried (Q09), a repeat
   * of a failed challenge is "wrong credentials".
   */
  private async request(a: Attempt, method: string, uri: string, extra: [string, string][] = [], timeoutMs?: number): Promise<RtspResponse> {
    const timeout = timeoutMs ?? this.opts.requestTimeoutMs ?? 10_000;
    let authorized = false;
    let sentAuth = '';
    for (let round = 0; round < 4; round++) {
      const headers: [string, string][] = [['User-Agent', this.opts.userAgent ?? DEFAULT_USER_AGENT]];
      const authz = a.auth?.authorize(method, uri);
      if (authz) {
        headers.push(['Authorization', authz]);
        authorized = true;
        sentAuth = authz;
      }
      if (a.sessionId) headers.push(['Session', a.sessionId]);
      headers.push(...extra);
      let res: RtspResponse;
      try {
        res = await a.conn.send(method, uri, headers, undefined, timeout);
      } catch (e) {
        const re = e instanceof RtspError ? e : new RtspError('network', String(e));
        throw new RtspError(re.kind, this.redact(`${re.message} (${method} ${this.display(a.url)})`), re.statusCode);
      }
      if (res.statusCode !== 401) {
        if (authorized) this.quirk(describeAuth(sentAuth));
        return res;
      }
      const label = `${res.statusCode} ${res.reason || statusText(401)}`;
      if (!this.credentials) {
        throw new RtspError('auth', this.redact(`${label}: credentials required for ${this.display(a.url)}`), 401);
      }
      a.auth ??= new ClientAuthenticator({ username: this.credentials.username, password: this.credentials.password });
      const challenges = res.headers.getAll('WWW-Authenticate');
      if (!a.auth.handleChallenge(challenges)) {
        throw new RtspError(
          'auth',
          this.redact(authorized ? `${label}: wrong credentials for ${this.display(a.url)}` : `${label}: unsupported authentication challenge from ${this.display(a.url)}`),
          401,
        );
      }
      this.log('debug', `${method} challenged (${label}); retrying with ${a.auth.scheme ?? 'credentials'}`);
    }
    throw new RtspError('auth', this.redact(`401 Unauthorized: wrong credentials for ${this.display(a.url)}`), 401);
  }

  private statusError(a: Attempt, method: string, res: RtspResponse): RtspError {
    const reason = res.reason || statusText(res.statusCode) || '';
    return new RtspError('status', this.redact(`${res.statusCode} ${reason}: ${method} ${this.display(a.url)}`.replace(/  +/g, ' ')), res.statusCode);
  }

  // ---------------------------------------------------------------------------------------------
  // incoming data

  private onInterleaved(a: Attempt, channel: number, payload: Buffer): void {
    const m = a.channelMap.get(channel);
    if (!m) {
      // Q06: frames on channels never SETUP (cameras with default channel assignments, stale sessions)
      this.statsCounters.unknownChannelFrames++;
      this.quirk('interleaved data on an unassigned channel dropped');
      return;
    }
    // Q05: Reolink and v4l2rtspserver send RTCP/RTP before the PLAY response
    if (a.playPending) this.quirk('interleaved data before the PLAY response');
    this.deliver(a, m.track, m.rtcp, payload);
  }

  private deliver(a: Attempt, track: number, rtcp: boolean, payload: Buffer): void {
    a.lastMediaAt = Date.now();
    if (rtcp) {
      this.statsCounters.rtcpPackets++;
      this.emit('rtcp', track, payload);
    } else {
      a.rtpReceived++;
      this.statsCounters.rtpPackets++;
      this.emit('rtp', track, payload);
    }
  }

  /** Q07: cameras send OPTIONS/GET_PARAMETER/ANNOUNCE… to us; answer, never drop the session */
  private onServerRequest(a: Attempt, ev: Extract<DemuxEvent, { type: 'request' }>): void {
    this.statsCounters.serverRequests++;
    const method = ev.method.toUpperCase();
    const code = method === 'OPTIONS' || method === 'GET_PARAMETER' ? 200 : 501;
    this.quirk(`server-initiated ${method} answered ${code}`);
    const headers: [string, string][] = [];
    const cseq = ev.headers.get('CSeq');
    if (cseq !== undefined) headers.push(['CSeq', cseq.trim()]);
    const session = ev.headers.get('Session');
    if (session !== undefined) headers.push(['Session', session.trim()]);
    if (method === 'OPTIONS') headers.push(['Public', 'OPTIONS, GET_PARAMETER']);
    headers.push(['Server', this.opts.userAgent ?? DEFAULT_USER_AGENT]);
    a.conn.write(serializeResponse({ statusCode: code, reason: statusText(code), headers: new RtspHeaders(headers) }));
  }

  // ---------------------------------------------------------------------------------------------
  // keepalive, liveness, teardown

  private sendKeepalive(a: Attempt): void {
    if (a.closed || this.stopped) return;
    const method = a.keepaliveMethod;
    this.statsCounters.keepalivesSent++;
    // never awaited by the timer: some cameras do not answer keepalives at all (Q19)
    this.request(a, method, a.baseUrl).then(
      (res) => {
        if (a.closed) return;
        if (res.statusCode === 454) {
          // Q22: session expired on the camera — let the supervisor reconnect
          this.sessionDied(a, new RtspError('status', this.redact(`454 Session Not Found: keepalive ${method} ${this.display(a.url)}`), 454));
          return;
        }
        if (!isTwoXX(res.statusCode)) this.keepaliveFailed(a, method, `answered ${res.statusCode}`);
      },
      (e: RtspError) => {
        if (a.closed) return;
        this.keepaliveFailed(a, method, e.kind === 'timeout' ? 'not answered' : e.message);
      },
    );
  }

  private keepaliveFailed(a: Attempt, method: string, why: string): void {
    this.statsCounters.keepaliveFailures++;
    this.log('warn', `keepalive ${method} ${why}; not fatal`);
    if (method === 'GET_PARAMETER') {
      // Q19: advertised but rejected/ignored — OPTIONS for the rest of the session
      a.keepaliveMethod = 'OPTIONS';
      this.quirk(`keepalive GET_PARAMETER ${why.startsWith('answered') ? why : 'not answered'}: switched to OPTIONS`);
    } else {
      this.quirk(`keepalive OPTIONS ${why.startsWith('answered') ? why : 'not answered'}`);
    }
  }

  /** Called when the session dies on its own (socket closed, 454, media timeout). */
  private sessionDied(a: Attempt, e: RtspError): void {
    if (a.closed) return;
    const wasActive = this.active === a && this.started;
    void this.closeAttempt(a);
    if (!wasActive || this.stopped || this.closeEmitted) return;
    this.clearTimers();
    this.closeEmitted = true;
    this.log('warn', `session ended: ${e.message}`);
    this.emit('close', e);
  }

  /** TEARDOWN (waits at most TEARDOWN_WAIT_MS; 454/500 count as success, Q22/Q23) then close. */
  private async teardownAndClose(a: Attempt): Promise<void> {
    if (a.closed) return;
    if (a.sessionId !== undefined && !a.conn.isGone) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.request(a, 'TEARDOWN', a.baseUrl, [], TEARDOWN_WAIT_MS).then(
          (res) => {
            if (!isTwoXX(res.statusCode) && res.statusCode !== 454 && res.statusCode !== 500) {
              this.log('debug', `TEARDOWN answered ${res.statusCode}`);
            }
          },
          () => undefined,
        ),
        new Promise<void>((r) => {
          timer = setTimeout(r, TEARDOWN_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    await this.closeAttempt(a);
  }

  private async closeAttempt(a: Attempt): Promise<void> {
    if (a.closed) return;
    a.closed = true;
    this.attempts.delete(a);
    for (const t of a.tracks) t.udp?.close();
    a.conn.close();
  }

  private clearTimers(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.keepaliveTimer = undefined;
    this.livenessTimer = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // helpers

  private quirk(name: string): void {
    if (this.quirkList.includes(name)) return;
    this.quirkList.push(name);
    // After start the listener (the camera) logs it, with the camera's name.
    if (this.started && this.listenerCount('quirk') > 0) this.emit('quirk', this.redact(name));
    else this.log('info', `camera quirk handled: ${name}`);
  }

  private redact(text: string): string {
    let out = redactSecrets(text, this.secrets);
    // belt and braces: the password must never escape, whatever redactSecrets recognises
    for (const s of this.secrets) if (s) out = out.split(s).join('***');
    return out;
  }

  private display(u: RtspUrl): string {
    return this.credentials ? u.href.replace(/^(rtsps?:\/\/)/i, '$1***@') : u.href;
  }

  /** Q18: only ever talk to the host the user configured (or a redirect named) */
  private forceAuthority(a: Attempt, url: string, quirkName: string): string {
    const u = parseRtspUrl(url);
    if (!u.ok) return url;
    if (u.value.host === a.url.host && u.value.port === a.url.port && u.value.scheme === a.url.scheme) return url;
    this.quirk(quirkName);
    const host = a.url.host.includes(':') ? `[${a.url.host}]` : a.url.host;
    return `${a.url.scheme}://${host}:${a.url.port}${u.value.pathAndQuery}`;
  }

  private stripUserinfo(url: string): string {
    // Q17: some cameras embed admin:password@ in Content-Base/control; never send userinfo
    return url.replace(/^(rtsps?:\/\/)[^/?#]*@/i, (_m, scheme: string) => {
      this.quirk('userinfo in server-provided URL removed');
      return scheme;
    });
  }

  private log(level: keyof RtspClientLogger, msg: string): void {
    const l = this.opts.logger;
    if (!l) return;
    try {
      l[level]({ component: 'rtsp-client' }, this.redact(msg));
    } catch {
      /* a broken logger must not break the session */
    }
  }
}

/** quirk name for the auth scheme in use, e.g. 'digest auth (MD5, qop=auth)' (no secrets in it) */
function describeAuth(header: string): string {
  if (/^basic /i.test(header)) return 'basic auth';
  const alg = /algorithm=([^,\s]+)/i.exec(header)?.[1] ?? 'MD5';
  return `digest auth (${alg}${/qop=auth\b/i.test(header) ? ', qop=auth' : ''})`;
}

const isChannel = (n: number) => Number.isInteger(n) && n >= 0 && n <= 255;

/** SSRC may come back as a number or as (hex) text with stray spaces (Q28) */
function parseSsrc(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!/^[0-9a-f]{1,8}$/i.test(t)) return undefined;
    return Number.parseInt(t, 16);
  }
  return undefined;
}

/** url.ts helpers may return a string or a Result<string>; accept either */
function unwrapUrl(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && 'ok' in v) {
    const r = v as { ok: boolean; value?: unknown };
    if (r.ok && typeof r.value === 'string') return r.value;
    if (r.ok && r.value && typeof r.value === 'object' && 'href' in r.value) return String((r.value as { href: unknown }).href);
  }
  if (v && typeof v === 'object' && 'href' in v) return String((v as { href: unknown }).href);
  return undefined;
}
