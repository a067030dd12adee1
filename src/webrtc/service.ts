/**
 * Main-thread side of WebRTC: WHEP sessions, their placement on engines (worker threads), the hub
 * pumps that feed them, the session registry and capacity. The main thread keeps ingest and HTTP;
 * werift (ICE, DTLS, SRTP: ~30 µs per packet per viewer) runs on the workers.
 */
import os from 'node:os';
import v8 from 'node:v8';
import dns from 'node:dns/promises';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Gateway } from '../gateway.ts';
import { newSessionId } from '../stream/sessions.ts';
import type { Stream } from '../stream/stream.ts';
import type { Consumer } from '../stream/consumer.ts';
import type { AccessUnit } from '../stream/types.ts';
import { findFfmpeg } from '../util/ffmpeg.ts';
import { negotiate, negotiateBundle, NegotiationError, type BundleEntry, type SendPlan } from './negotiate.ts';
import type { SdpFrag } from './sdpfrag.ts';
import { Engine, hostAddressCount, type EngineIn, type EngineOut } from './engine.ts';
import type { PeerStats } from './peer.ts';
import { AacToOpus } from './transcode.ts';
import { TRANSCODED_TRACK_OFFSET } from './fanout.ts';

export class WhepError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface WebRtcServiceOptions {
  /** Worker threads hosting peers; 0 runs them in the main thread. Default: one per CPU. */
  workers?: number;
  /** Most concurrent WHEP sessions (503 beyond). Default 200. */
  maxSessions?: number;
  /** How long POST waits for an onDemand camera to come online before answering 409. */
  onDemandWaitMs?: number;
  /** Start the engines when the HTTP server is ready (default, except under vitest) instead of on the first viewer. */
  prestart?: boolean;
  /**
   * Each worker runs one WHEP session with itself when it starts, so the first wall after start
   * does not wait for code that never ran (src/webrtc/warmup.ts). Default: as prestart
   * (env CAMGATE_WEBRTC_WARMUP=0/1 overrides).
   */
  warmUp?: boolean;
  /** A session not connected (ICE + DTLS) this long after its POST is freed. Default 15 s. */
  connectTimeoutMs?: number;
  /**
   * With workers, this many sessions run in the main thread before any goes to a worker (default 2,
   * env CAMGATE_WEBRTC_MAIN_THREAD_VIEWERS). Their packets leave in the same turn the frame arrived:
   * no thread hop, whose scheduling was the tail of the added latency (one viewer: p99 2.5–6.9 ms
   * on a worker, 0.7–1.3 ms in the main thread). Kept small so fan-out never holds ingest and HTTP long.
   */
  mainThreadViewers?: number;
}

/** An engine that does not answer a request this long is treated as overloaded (503). */
const ENGINE_REQUEST_TIMEOUT_MS = 10_000;

/** Access units posted to an engine and not yet acknowledged, per stream (bounds worker inboxes). */
const MAX_IN_FLIGHT = 256;
const RETRY_AFTER_S = '2';

interface EngineHandle {
  index: number;
  post(m: EngineIn): void;
  ready: Promise<void>;
  sessions: number;
  portCapacity: number;
  pumps: Map<string, Pump>;
  terminate(): Promise<void>;
}

/** One stream a session sends: the whole of a WHEP session, or one tile of a bundled one. */
interface Member {
  stream: string;
  plans: SendPlan[];
  /** In a bundled session: the m-section (and the id suffix in the sessions list). */
  mLine?: number;
  bytesSent: number;
  unregister: () => void;
  release: () => void;
}

interface SessionRecord {
  id: string;
  engine: EngineHandle;
  members: Member[];
  etag: number;
  stats?: PeerStats & { keyframesResent: number };
  closed: boolean;
}

/** Most streams in one bundled session (a 64-tile wall page). */
export const MAX_BUNDLE_STREAMS = 64;

/** What a bundled session sends per requested stream. */
export interface BundleMember {
  stream: string;
  mLine: number;
  /** Why the stream is not sent (its m-section is answered inactive); undefined when it is. */
  refused?: string;
}

class Pump {
  private consumer?: Consumer;
  private inFlight = 0;
  private wake?: () => void;
  sessions = 0;
  transcodeSessions = 0;
  private transcoder?: AacToOpus;

  constructor(
    private readonly stream: Stream,
    private readonly engine: EngineHandle,
    private readonly onTranscoded: () => AacToOpus,
  ) {}

  start(): void {
    if (this.consumer) return;
    const c = this.stream.subscribe({ label: `webrtc:worker${this.engine.index}`, fromGop: true, maxUnits: 2048 });
    this.consumer = c;
    void (async () => {
      for (;;) {
        const au = await c.next();
        if (!au) break;
        this.post(au);
        while (this.inFlight > MAX_IN_FLIGHT && !c.isClosed) await new Promise<void>((r) => (this.wake = r));
      }
    })();
  }

  post(au: AccessUnit): void {
    this.inFlight++;
    this.engine.post({ t: 'au', stream: this.stream.name, au, at: performance.timeOrigin + performance.now() });
    if (this.transcoder && au.codec === 'AAC') this.transcoder.push(au);
  }

  needTranscode(on: boolean): void {
    if (on && !this.transcoder) {
      this.transcoder = this.onTranscoded();
      this.transcoder.onUnit = (au) => {
        this.inFlight++;
        this.engine.post({ t: 'au', stream: this.stream.name, au });
      };
    } else if (!on && this.transcoder) {
      this.transcoder.close();
      this.transcoder = undefined;
    }
  }

  ack(n: number): void {
    this.inFlight = Math.max(0, this.inFlight - n);
    if (this.inFlight <= MAX_IN_FLIGHT && this.wake) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
  }

  stop(): void {
    this.consumer?.close();
    this.consumer = undefined;
    this.needTranscode(false);
    this.wake?.();
  }
}

/**
 * Why a stream's video cannot go out over WebRTC although its codec can: B-frames. WebRTC's H.264
 * and H.265 carry frames in presentation order; sent in decode order (as the camera sent them),
 * Chromium decoded 44 of 391 frames in 8 s of an x264 stream with 3 B-frames (6 fps, 46 PLIs, 3 s
 * of freezes) against every frame without them. The hub sees it (Stream.videoReordered: frames
 * presented before earlier ones). The wall then plays the camera over LL-HLS, which carries B-frames.
 */
function reorderedVideo(stream: Stream): string | undefined {
  if (!stream.videoReordered) return undefined;
  const codec = stream.tracks.find((t) => t.kind === 'video')?.codec ?? 'H.264';
  return `WebRTC: the camera's ${codec} video has B-frames (frames out of presentation order), which WebRTC cannot carry; LL-HLS and the RTSP restream play it (or turn B-frames off in the encoder, e.g. x264 -bf 0)`;
}

export class WebRtcService {
  private engines: EngineHandle[] = [];
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly pending = new Map<number, (m: EngineOut) => void>();
  private reqSeq = 0;
  private readonly maxSessions: number;
  private readonly workerCount: number;
  private readonly mainThreadViewers: number;
  /** The main-thread engine that takes the first sessions when workers exist (see mainThreadViewers). */
  private mainEngine?: EngineHandle;
  private readonly onDemandWaitMs: number;
  private readonly warmUp: boolean;
  private readonly connectTimeoutMs: number | undefined;
  private started?: Promise<void>;
  private hostCache?: { at: number; ips: string[] };
  /** Per stream: why audio is not sent (shown in camera status through Camera notes). */
  readonly audioNotes = new Map<string, string>();
  /** Hub → RTP-out times (ms) reported by the engines; read and cleared by bench/whep.ts. */
  addedLatency: number[] = [];

  constructor(
    private readonly gateway: Gateway,
    opts: WebRtcServiceOptions = {},
  ) {
    this.maxSessions = opts.maxSessions ?? (process.env.CAMGATE_WEBRTC_MAX_SESSIONS ? Number(process.env.CAMGATE_WEBRTC_MAX_SESSIONS) : 200);
    const envWorkers = process.env.CAMGATE_WEBRTC_WORKERS;
    this.workerCount = opts.workers ?? (envWorkers !== undefined ? Number(envWorkers) : Math.max(1, os.availableParallelism()));
    const envMain = process.env.CAMGATE_WEBRTC_MAIN_THREAD_VIEWERS;
    this.mainThreadViewers = Math.max(0, opts.mainThreadViewers ?? (envMain !== undefined ? Number(envMain) : 2)) || 0;
    this.onDemandWaitMs = opts.onDemandWaitMs ?? 8000;
    this.warmUp = opts.warmUp ?? (process.env.CAMGATE_WEBRTC_WARMUP !== undefined ? process.env.CAMGATE_WEBRTC_WARMUP !== '0' : (opts.prestart ?? !process.env.VITEST));
    const envConnect = process.env.CAMGATE_WEBRTC_CONNECT_TIMEOUT_MS;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? (envConnect ? Number(envConnect) : undefined);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Starts the engines (lazily on first use so servers without WHEP viewers start no threads). */
  start(): Promise<void> {
    this.started ??= this.spawn();
    return this.started;
  }

  private async spawn(): Promise<void> {
    // V8's memory reducer runs full mark-compacts (11–14 ms each, measured with --trace-gc) whenever
    // an isolate looks idle, which a worker fanning out one camera often does; a message arriving
    // during one waited for it (hub → RTP out p99 15–28 ms with one viewer). A server's heap need not
    // shrink when idle. The flag is process-wide and read when each isolate's heap is set up, so it
    // is set before the workers start. CAMGATE_WEBRTC_MEMORY_REDUCER=1 keeps V8's default.
    if (process.env.CAMGATE_WEBRTC_MEMORY_REDUCER !== '1') v8.setFlagsFromString('--no-memory-reducer');
    const { max } = this.gateway.config.server.webrtc.udpPorts;
    let { min } = this.gateway.config.server.webrtc.udpPorts;
    const count = Math.max(1, this.workerCount);
    const perSession = hostAddressCount();
    const engines: EngineHandle[] = [];
    // The main-thread engine's ports come off the bottom of the range, when the workers keep some.
    const mainPorts = this.workerCount > 0 ? this.mainThreadViewers * perSession : 0;
    if (mainPorts > 0 && max - min + 1 >= mainPorts + count * perSession) {
      this.mainEngine = this.inlineEngine(count, [min, min + mainPorts - 1], this.mainThreadViewers, perSession);
      engines.push(this.mainEngine);
      min += mainPorts;
    }
    const span = Math.floor((max - min + 1) / count);
    for (let k = 0; k < count; k++) {
      const lo = min + k * span;
      const hi = k === count - 1 ? max : lo + span - 1;
      const portRange: [number, number] | undefined = hi > lo ? [lo, hi] : undefined;
      const capacity = Math.floor((hi - lo + 1) / perSession);
      engines.push(this.workerCount === 0 ? this.inlineEngine(k, portRange, capacity, perSession) : this.workerEngine(k, portRange, capacity, perSession));
    }
    this.engines = engines;
    await Promise.all(engines.map((e) => e.ready));
  }

  private onEngineMessage(engine: EngineHandle, m: EngineOut): void {
    switch (m.t) {
      case 'res': {
        const p = this.pending.get(m.req);
        this.pending.delete(m.req);
        p?.(m);
        break;
      }
      case 'ack':
        engine.pumps.get(m.stream)?.ack(m.n);
        break;
      case 'stats':
        for (const s of m.sessions) {
          const rec = this.sessions.get(s.id);
          if (!rec) continue;
          rec.stats = s.stats;
          for (const mb of rec.members) mb.bytesSent = mb.mLine === undefined ? s.stats.bytesSent : (s.bytesBySection[mb.mLine] ?? 0);
        }
        break;
      case 'closed':
        this.finish(m.id, m.reason);
        break;
      case 'latency':
        for (const v of m.samples) if (this.addedLatency.length < 100_000) this.addedLatency.push(v);
        break;
    }
  }

  private inlineEngine(index: number, portRange: [number, number] | undefined, portCapacity: number, portsPerPeer: number): EngineHandle {
    const h: EngineHandle = {
      index,
      sessions: 0,
      portCapacity,
      pumps: new Map(),
      ready: Promise.resolve(),
      post: (m) => engine.handle(m),
      terminate: async () => engine.close(),
    };
    const engine = new Engine({ portRange, portsPerPeer, post: (m) => this.onEngineMessage(h, m) });
    return h;
  }

  private workerEngine(index: number, portRange: [number, number] | undefined, portCapacity: number, portsPerPeer: number): EngineHandle {
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: { portRange, portsPerPeer, warmUp: this.warmUp }, name: `webrtc-${index}` });
    worker.unref();
    let markReady!: () => void;
    const h: EngineHandle = {
      index,
      sessions: 0,
      portCapacity,
      pumps: new Map(),
      ready: new Promise<void>((r) => (markReady = r)),
      post: (m) => worker.postMessage(m),
      terminate: async () => {
        worker.postMessage({ t: 'shutdown' });
        await Promise.race([new Promise((r) => worker.once('exit', r)), new Promise((r) => setTimeout(r, 1000))]);
        await worker.terminate();
      },
    };
    worker.on('message', (m: EngineOut | { t: 'ready' }) => {
      if (m.t === 'ready') markReady();
      else this.onEngineMessage(h, m);
    });
    worker.on('error', (e) => {
      this.gateway.log.error({ err: e.message }, `webrtc worker ${index} crashed`);
      for (const s of [...this.sessions.values()]) if (s.engine === h) this.finish(s.id, 'worker crashed');
    });
    return h;
  }

  private request(engine: EngineHandle, m: EngineIn & { req: number }): Promise<EngineOut & { t: 'res' }> {
    return new Promise((resolve) => {
      // Bounded: a stuck worker must not hold HTTP requests (and their sessions) forever. A session
      // the worker creates after this gave up closes itself (connect timeout); its 'closed' is ignored.
      const timer = setTimeout(() => {
        this.pending.delete(m.req);
        resolve({ t: 'res', req: m.req, ok: false, status: 503, message: 'the WebRTC engine did not answer in time' });
      }, ENGINE_REQUEST_TIMEOUT_MS);
      this.pending.set(m.req, ((r: EngineOut) => {
        clearTimeout(timer);
        resolve(r as EngineOut & { t: 'res' });
      }) as (m: EngineOut) => void);
      engine.post(m);
    });
  }

  /** Additional hosts as IPs (names resolved, cached 60 s): browsers need addresses in candidates. */
  private async additionalHosts(): Promise<string[]> {
    const now = Date.now();
    if (this.hostCache && now - this.hostCache.at < 60_000) return this.hostCache.ips;
    const ips: string[] = [];
    for (const h of this.gateway.config.server.webrtc.additionalHosts) {
      if (net.isIPv4(h)) ips.push(h);
      else if (!net.isIP(h)) {
        const r = await Promise.race([dns.lookup(h, { family: 4 }).catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000))]);
        if (r) ips.push(r.address);
        else this.gateway.log.warn({ host: h }, 'webrtc: additional host does not resolve; skipped');
      }
    }
    this.hostCache = { at: now, ips };
    return ips;
  }

  private async waitLive(stream: Stream): Promise<boolean> {
    const ready = () => stream.online && stream.tracks.length > 0 && (!stream.hasVideo || stream.lastKeyframe() !== undefined);
    if (ready()) return true;
    const deadline = Date.now() + this.onDemandWaitMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      if (ready()) return true;
    }
    return false;
  }

  async create(streamName: string, offer: string, remoteAddress: string, user?: string): Promise<{ id: string; answer: string; etag: number }> {
    const cam = this.gateway.cameraForStream(streamName);
    const stream = this.gateway.hub.get(streamName);
    if (!cam || !stream) throw new WhepError(404, `unknown stream '${streamName}'`);
    if (this.viewerStreams >= this.maxSessions) throw new WhepError(503, `too many WebRTC sessions (${this.maxSessions})`, { 'Retry-After': '10' });
    const release = this.gateway.acquire(streamName);
    let ok = false;
    try {
      const live = stream.online && stream.tracks.length > 0 ? true : cam.config.onDemand ? await this.waitLive(stream) : false;
      if (!live) throw new WhepError(409, `camera '${streamName}' is not streaming (${cam.status().state})`, { 'Retry-After': RETRY_AFTER_S });
      const reordered = reorderedVideo(stream);
      if (reordered) {
        (cam as { setNote?: (key: string, text: string | undefined) => void }).setNote?.('webrtc', reordered);
        throw new WhepError(422, reordered);
      }
      let neg;
      try {
        neg = negotiate({ offer, tracks: stream.tracks, audioMode: cam.config.audio, canTranscode: findFfmpeg() !== null });
      } catch (e) {
        if (e instanceof NegotiationError) throw new WhepError(e.status, e.message);
        throw e;
      }
      if (neg.audioNote) this.audioNotes.set(streamName, neg.audioNote);
      else this.audioNotes.delete(streamName);
      // Camera.setNote (shared with HLS) shows in the camera status why WebRTC viewers get no audio.
      (cam as { setNote?: (key: string, text: string | undefined) => void }).setNote?.('webrtc', neg.audioNote);
      const { rec, answer } = await this.open(false, streamName, neg);
      this.addMember(rec, { stream, plans: neg.plans, release, remoteAddress, user });
      ok = true;
      return { id: rec.id, answer, etag: rec.etag };
    } finally {
      if (!ok) release();
    }
  }

  /** Sessions per thread: the main-thread engine's and each worker's (tests, diagnostics). */
  placement(): { main: number; workers: number[] } {
    return { main: this.mainEngine?.sessions ?? 0, workers: this.engines.filter((e) => e !== this.mainEngine).map((e) => e.sessions) };
  }

  /** @param bundle a bundled session goes to a worker: its many streams would weigh on ingest and HTTP */
  private pickEngine(bundle = false): EngineHandle | undefined {
    if (!bundle && this.mainEngine && this.mainEngine.sessions < this.mainEngine.portCapacity) return this.mainEngine;
    let best: EngineHandle | undefined;
    for (const e of this.engines) if ((!bundle || e !== this.mainEngine || this.engines.length === 1) && e.sessions < e.portCapacity && (!best || e.sessions < best.sessions)) best = e;
    return best;
  }

  private attachPump(engine: EngineHandle, stream: Stream, transcode: boolean): void {
    let pump = engine.pumps.get(stream.name);
    if (!pump) {
      pump = new Pump(stream, engine, () => new AacToOpus(stream, this.gateway.log));
      engine.pumps.set(stream.name, pump);
      const onOffline = () => engine.post({ t: 'reset', stream: stream.name });
      stream.on('offline', onOffline);
      (pump as Pump & { off?: () => void }).off = () => stream.off('offline', onOffline);
    }
    pump.sessions++;
    if (transcode) {
      pump.transcodeSessions++;
      pump.needTranscode(true);
    }
    pump.start();
  }

  private detachPump(engine: EngineHandle, member: Member): void {
    const pump = engine.pumps.get(member.stream);
    if (!pump) return;
    pump.sessions--;
    if (member.plans.some((p) => p.transcode) && --pump.transcodeSessions === 0) pump.needTranscode(false);
    if (pump.sessions <= 0) {
      pump.stop();
      (pump as Pump & { off?: () => void }).off?.();
      engine.pumps.delete(member.stream);
      engine.post({ t: 'reset', stream: member.stream });
    }
  }

  /**
   * Creates the peer of a new session on an engine (a worker for a bundle, see pickEngine) and
   * registers the session, still without members. 503 when no engine has a free port.
   */
  private async open(bundle: boolean, stream: string, neg: { plans: SendPlan[]; offer: string }): Promise<{ rec: SessionRecord; answer: string }> {
    await this.start();
    const engine = this.pickEngine(bundle);
    if (!engine) throw new WhepError(503, 'no free WebRTC UDP port (server.webrtc.udpPorts is exhausted)', { 'Retry-After': '10' });
    const id = newSessionId();
    engine.sessions++;
    const res = await this.request(engine, { t: 'create', req: ++this.reqSeq, id, stream, plans: neg.plans, offer: neg.offer, additionalHosts: await this.additionalHosts(), connectTimeoutMs: this.connectTimeoutMs });
    if (!res.ok) {
      engine.sessions--;
      throw new WhepError(res.status, res.message);
    }
    const rec: SessionRecord = { id, engine, members: [], etag: res.etag ?? 1, closed: false };
    this.sessions.set(id, rec);
    return { rec, answer: res.answer! };
  }

  /**
   * One stream of a session: a viewer in the sessions list (`<id>`, or `<id>-<m-section>` in a
   * bundle, where a kick stops only that stream) fed by the stream's pump on the session's engine.
   */
  private addMember(rec: SessionRecord, m: { stream: Stream; plans: SendPlan[]; mLine?: number; release: () => void; remoteAddress: string; user?: string }): void {
    const member: Member = { stream: m.stream.name, plans: m.plans, mLine: m.mLine, bytesSent: 0, release: m.release, unregister: () => undefined };
    rec.members.push(member);
    const bundled = m.mLine !== undefined;
    member.unregister = this.gateway.sessions.add({
      id: bundled ? `${rec.id}-${m.mLine}` : rec.id,
      protocol: 'webrtc',
      stream: member.stream,
      remoteAddress: m.remoteAddress,
      user: m.user,
      startedAt: new Date(),
      bytesSent: () => member.bytesSent,
      kick: () => (bundled ? this.drop(rec.id, m.mLine!, 'kicked') : this.close(rec.id, 'kicked')),
    });
    this.attachPump(rec.engine, m.stream, m.plans.some((p) => p.transcode));
  }

  /** Streams sent to WebRTC viewers now (a bundled session counts each of its streams). */
  private get viewerStreams(): number {
    let n = 0;
    for (const r of this.sessions.values()) n += r.members.length;
    return n;
  }

  /**
   * A bundled session: one connection carrying several streams' video, m-section i for names[i]
   * (the wall opens one for all its tiles instead of one WHEP session each: one ICE and DTLS
   * handshake instead of 16; docs/design.md "Wall"). Streams that are unknown, not allowed
   * (`canView`), not streaming, or without a common codec are answered inactive and listed as
   * refused; the viewer plays those through single-stream WHEP. Video only.
   */
  async createBundle(
    names: string[],
    offer: string,
    remoteAddress: string,
    user: string | undefined,
    canView: (stream: string) => boolean,
  ): Promise<{ id: string; answer: string; etag: number; members: BundleMember[] }> {
    if (names.length === 0 || names.length > MAX_BUNDLE_STREAMS) throw new WhepError(400, `a bundle names 1 to ${MAX_BUNDLE_STREAMS} streams`);
    const room = this.maxSessions - this.viewerStreams;
    if (room <= 0) throw new WhepError(503, `too many WebRTC sessions (${this.maxSessions})`, { 'Retry-After': '10' });
    const entries: BundleEntry[] = names.map((name, i) => {
      const cam = this.gateway.cameraForStream(name);
      const stream = this.gateway.hub.get(name);
      if (!cam || !stream) return { stream: name, reason: `unknown stream '${name}'` };
      if (!canView(name)) return { stream: name, reason: `not allowed to view '${name}'` };
      if (i >= room) return { stream: name, reason: `too many WebRTC sessions (${this.maxSessions})` };
      // No on-demand wait here: one slow camera must not hold every tile; its tile asks on its own.
      if (!stream.online || stream.tracks.length === 0 || (stream.hasVideo && stream.lastKeyframe() === undefined)) return { stream: name, reason: `camera '${name}' is not streaming (${cam.status().state})` };
      const reordered = reorderedVideo(stream);
      if (reordered) return { stream: name, reason: reordered };
      return { stream: name, tracks: stream.tracks };
    });
    let neg;
    try {
      neg = negotiateBundle(offer, entries);
    } catch (e) {
      if (e instanceof NegotiationError) throw new WhepError(e.status, e.message);
      throw e;
    }
    const { rec, answer } = await this.open(true, '', neg);
    for (const plan of neg.plans) {
      const name = plan.stream!;
      this.addMember(rec, { stream: this.gateway.hub.get(name)!, plans: [plan], mLine: plan.mLine, release: this.gateway.acquire(name), remoteAddress, user });
    }
    return { id: rec.id, answer, etag: rec.etag, members: names.map((stream, mLine) => ({ stream, mLine, refused: neg.refused[mLine] })) };
  }

  /**
   * Stops one stream of a bundled session (its tile closed, or it was kicked); the session ends
   * with its last stream. False when the session or stream is unknown.
   */
  drop(id: string, mLine: number, reason: string): boolean {
    const rec = this.sessions.get(id);
    const member = rec?.members.find((m) => m.mLine === mLine);
    if (!rec || !member) return false;
    if (rec.members.length === 1) return this.close(id, reason);
    rec.members.splice(rec.members.indexOf(member), 1);
    // The engine feeds a stream once per session, to every section that names it: stop it only
    // when no other section of this session shows that stream.
    if (!rec.members.some((m) => m.stream === member.stream)) rec.engine.post({ t: 'drop', id, stream: member.stream });
    member.unregister();
    member.release();
    this.detachPump(rec.engine, member);
    return true;
  }

  get(id: string): SessionRecord | undefined {
    return this.sessions.get(id);
  }

  async patch(id: string, frag: SdpFrag): Promise<{ etag: number; restart?: { ufrag: string; pwd: string; candidates: string[]; mid?: string } }> {
    const rec = this.sessions.get(id);
    if (!rec) throw new WhepError(404, 'no such session');
    const res = await this.request(rec.engine, { t: 'patch', req: ++this.reqSeq, id, frag });
    if (!res.ok) throw new WhepError(res.status, res.message);
    rec.etag = res.etag ?? rec.etag;
    return { etag: rec.etag, restart: res.restart };
  }

  close(id: string, reason: string): boolean {
    const rec = this.sessions.get(id);
    if (!rec) return false;
    rec.engine.post({ t: 'close', id, reason });
    this.finish(id, reason);
    return true;
  }

  private finish(id: string, reason: string): void {
    const rec = this.sessions.get(id);
    if (!rec || rec.closed) return;
    rec.closed = true;
    this.sessions.delete(id);
    rec.engine.sessions--;
    for (const m of rec.members) {
      m.unregister();
      m.release();
      this.detachPump(rec.engine, m);
    }
    this.gateway.log.debug({ session: id, streams: rec.members.map((m) => m.stream), reason }, 'webrtc session closed');
  }

  stats(id: string): (PeerStats & { keyframesResent: number }) | undefined {
    return this.sessions.get(id)?.stats;
  }

  async stop(): Promise<void> {
    for (const id of [...this.sessions.keys()]) this.close(id, 'server shutting down');
    const engines = this.engines;
    this.engines = [];
    this.mainEngine = undefined;
    this.started = undefined;
    await Promise.all(engines.map((e) => e.terminate().catch(() => undefined)));
  }
}

export { TRANSCODED_TRACK_OFFSET };

