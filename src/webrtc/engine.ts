/**
 * The WebRTC engine of one thread: the WHEP peers it hosts and the per-stream fan-out. The same
 * class runs inside each worker thread (worker.ts) and, in tests or with workers disabled, in the
 * main thread. Its inputs and outputs are plain messages (see EngineIn/EngineOut), so the main
 * thread never touches werift objects and a worker is a drop-in.
 */
import os from 'node:os';
import type { AccessUnit } from '../stream/types.ts';
import type { SendPlan } from './negotiate.ts';
import type { SdpFrag } from './sdpfrag.ts';
import { WhepPeer, type PeerStats } from './peer.ts';
import { Pacer, PeerFeed, StreamFanout } from './fanout.ts';
import { useNativeX25519 } from './x25519.ts';
import { scavengeWhenIdle } from '../util/idle-gc.ts';

// Every thread that runs peers does its DTLS key exchange natively (see x25519.ts);
// CAMGATE_WEBRTC_NATIVE_X25519=0 keeps werift's JavaScript X25519.
if (process.env.CAMGATE_WEBRTC_NATIVE_X25519 !== '0') useNativeX25519();

export type EngineIn =
  | { t: 'create'; req: number; id: string; stream: string; plans: SendPlan[]; offer: string; additionalHosts: string[]; connectTimeoutMs?: number }
  | { t: 'patch'; req: number; id: string; frag: SdpFrag }
  | { t: 'close'; id: string; reason: string }
  /** A bundled session stops sending one of its streams (the tile closed, or the viewer was kicked). */
  | { t: 'drop'; id: string; stream: string }
  | { t: 'au'; stream: string; au: AccessUnit; /** performance.timeOrigin + now() when the main thread posted it */ at?: number }
  | { t: 'reset'; stream: string };

export type EngineOut =
  | { t: 'res'; req: number; ok: true; answer?: string; restart?: { ufrag: string; pwd: string; candidates: string[]; mid?: string }; etag?: number }
  | { t: 'res'; req: number; ok: false; status: number; message: string }
  | { t: 'closed'; id: string; reason: string }
  | { t: 'stats'; sessions: { id: string; stats: PeerStats & { keyframesResent: number }; bytesBySection: Record<number, number> }[] }
  | { t: 'ack'; stream: string; n: number }
  | { t: 'latency'; samples: number[] };

/** Access units acknowledged in batches so the main thread can bound what is in flight. */
export const ACK_EVERY = 16;
/**
 * Behind by more than this, a thread skips its viewers to the next keyframe (see catchUp). Lags of
 * 100–250 ms were seen on a loaded 2-core machine with 10 viewers; 500 ms tripped now and then in
 * tests (a freeze in one browser), so the bound is 1 s.
 */
export const MAX_LAG_MS = Number(process.env.CAMGATE_WEBRTC_MAX_LAG_MS ?? 1000);

export interface EngineOptions {
  /** UDP ports for this engine's ICE sockets (disjoint per worker: werift's port search is not atomic across threads). */
  portRange?: [number, number];
  /** Ports one peer binds: one per host address werift gathers on (default: counted here). */
  portsPerPeer?: number;
  post: (m: EngineOut) => void;
  log?: (msg: string) => void;
}

/** IPv4 host addresses werift gathers on (non-internal, not link-local): one UDP socket each per peer. */
export function hostAddressCount(): number {
  let n = 0;
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) n++;
  return Math.max(1, n);
}

/**
 * The engine's port range cut into blocks of perPeer ports, one block per peer. werift's
 * icePortRange search binds and closes each port in turn, one event-loop turn per port: with a
 * shared range the n-th concurrent peer probed n busy ports, and under fan-out load each turn is
 * slow (answers took 0.7 s with 16 setups). A block of its own means the first probe succeeds.
 * Freed blocks go to the back of the queue, so a port is not reused while the last browser on it
 * may still be sending.
 */
export class PortBlocks {
  private readonly free: number[] = [];
  constructor(
    range: [number, number],
    readonly perPeer: number,
  ) {
    for (let p = range[0]; p + perPeer - 1 <= range[1]; p += perPeer) this.free.push(p);
  }
  get available(): number {
    return this.free.length;
  }
  take(): [number, number] | undefined {
    const p = this.free.shift();
    return p === undefined ? undefined : [p, p + this.perPeer - 1];
  }
  give(block: [number, number]): void {
    this.free.push(block[0]);
  }
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

interface PeerEntry {
  peer: WhepPeer;
  /** Per stream the peer sends: its feed (one, or several in a bundled session). */
  feeds: Map<string, PeerFeed>;
  /** Shared by the peer's feeds: bursts of all its streams leave at one bounded rate. */
  pacer: Pacer;
}

export class Engine {
  private readonly peers = new Map<string, PeerEntry>();
  private readonly streams = new Map<string, StreamFanout>();
  private readonly acks = new Map<string, number>();
  /** werift picks an ICE port by probing the range; setups run one at a time so two never pick the same port. */
  private setupChain: Promise<unknown> = Promise.resolve();
  private statsTimer: NodeJS.Timeout;
  /** Hub → wire time per access unit (ms): from the main thread's post to the last peer's send. */
  private latency: number[] = [];
  private readonly ports?: PortBlocks;
  /** Access units skipped to catch up with the live edge (thread overloaded). */
  lagSkips = 0;

  constructor(private readonly opts: EngineOptions) {
    if (opts.portRange) this.ports = new PortBlocks(opts.portRange, opts.portsPerPeer ?? hostAddressCount());
    this.statsTimer = setInterval(() => this.postStats(), 1000);
    this.statsTimer.unref();
  }

  handle(m: EngineIn): void {
    switch (m.t) {
      case 'au':
        this.onAu(m.stream, m.au, m.at);
        if (m.at !== undefined && this.latency.length < 4096) this.latency.push(performance.timeOrigin + performance.now() - m.at);
        scavengeWhenIdle();
        break;
      case 'reset':
        this.streams.get(m.stream)?.reset();
        break;
      case 'create':
        // With one host address every peer owns a one-port block and setups run concurrently.
        // With several, werift probes ports per address concurrently inside the block, so setups
        // are serialized to keep two peers' probes apart.
        if (this.ports && this.ports.perPeer === 1) void this.create(m);
        else this.setupChain = this.setupChain.then(() => this.create(m)).catch(() => undefined);
        break;
      case 'patch':
        void this.patch(m.req, m.id, m.frag);
        break;
      case 'close':
        this.peers.get(m.id)?.peer.close(m.reason);
        break;
      case 'drop': {
        const e = this.peers.get(m.id);
        const feed = e?.feeds.get(m.stream);
        if (!e || !feed) break;
        e.feeds.delete(m.stream);
        this.streams.get(m.stream)?.feeds.delete(feed);
        break;
      }
    }
  }

  private onAu(stream: string, raw: AccessUnit, at: number | undefined): void {
    const fan = this.streams.get(stream);
    if (fan && !this.catchUp(fan, raw, at)) {
      const au: AccessUnit = { ...raw, data: raw.data.map(toBuffer) };
      fan.push(au);
    }
    const n = (this.acks.get(stream) ?? 0) + 1;
    if (n >= ACK_EVERY) {
      this.acks.set(stream, 0);
      this.opts.post({ t: 'ack', stream, n });
    } else this.acks.set(stream, n);
  }

  /**
   * An overloaded thread must not build a standing delay: when an access unit reaches it more than
   * MAX_LAG_MS after the main thread posted it, the stream's viewers skip to the next keyframe
   * (dropping is cheap, so the backlog clears fast) instead of receiving everything late. Returns
   * true when this unit is skipped. Counted in `lagSkips`.
   */
  private catchUp(fan: StreamFanout, au: AccessUnit, at: number | undefined): boolean {
    const video = au.codec === 'H264' || au.codec === 'H265';
    const late = at !== undefined && performance.timeOrigin + performance.now() - at > MAX_LAG_MS;
    if (fan.skipping) {
      if (video && au.keyframe) fan.skipping = false;
      else {
        this.lagSkips++;
        return true;
      }
    }
    if (late && !(video && au.keyframe)) {
      if (video) {
        fan.skipping = true;
        fan.reset();
      }
      this.lagSkips++;
      return true;
    }
    return false;
  }

  private fanout(stream: string): StreamFanout {
    let f = this.streams.get(stream);
    if (!f) {
      f = new StreamFanout(stream);
      this.streams.set(stream, f);
    }
    return f;
  }

  private async create(m: Extract<EngineIn, { t: 'create' }>): Promise<void> {
    // A freed port can still be held by a closing socket (or by another program): werift then
    // gathers no candidate on it. Such an answer is useless to the browser, so try another block.
    for (let attempt = 0; ; attempt++) {
      const block = this.ports?.take();
      if (this.ports && !block) {
        this.opts.post({ t: 'res', req: m.req, ok: false, status: 503, message: 'no free WebRTC UDP port (server.webrtc.udpPorts is exhausted)' });
        return;
      }
      const r = await this.createOn(m, block ?? this.opts.portRange);
      if (r !== 'no-candidate' || attempt >= 2) {
        if (r === 'no-candidate') this.opts.post({ t: 'res', req: m.req, ok: false, status: 503, message: 'no WebRTC UDP port could be bound' });
        return;
      }
    }
  }

  private async createOn(m: Extract<EngineIn, { t: 'create' }>, portRange: [number, number] | undefined): Promise<'ok' | 'failed' | 'no-candidate'> {
    // A session sends one stream, or several (bundled: each plan names its stream).
    const streamOf = (p: SendPlan) => p.stream ?? m.stream;
    const entry: PeerEntry = { peer: undefined as unknown as WhepPeer, feeds: new Map(), pacer: new Pacer(() => peer.isClosed) };
    // The fan-outs exist from now on, so their GOP caches fill while ICE and DTLS come up.
    for (const p of m.plans) this.fanout(streamOf(p));
    let ownsBlock = this.ports !== undefined && portRange !== undefined;
    const peer = new WhepPeer({
      id: m.id,
      plans: m.plans,
      offer: m.offer,
      portRange,
      additionalHosts: m.additionalHosts,
      connectTimeoutMs: m.connectTimeoutMs,
      log: this.opts.log,
      onClose: (reason) => {
        for (const [stream, feed] of entry.feeds) this.streams.get(stream)?.feeds.delete(feed);
        entry.feeds.clear();
        if (ownsBlock) {
          ownsBlock = false;
          this.ports!.give(portRange!);
        }
        if (this.peers.get(m.id) === entry) {
          this.peers.delete(m.id);
          this.opts.post({ t: 'closed', id: m.id, reason });
        }
      },
      onKeyframeRequest: (plan) => {
        const i = peer.tracks.findIndex((t) => t.plan === plan);
        const stream = streamOf(plan);
        entry.feeds.get(stream)?.resendGop(i, this.fanout(stream).gopUnits());
      },
    });
    entry.peer = peer;
    this.peers.set(m.id, entry);
    try {
      const answer = await peer.answer();
      if (!/^a=candidate:/m.test(answer)) {
        this.peers.delete(m.id);
        peer.close('no candidate gathered');
        return 'no-candidate';
      }
      const byStream = new Map<string, number[]>();
      peer.tracks.forEach((t, i) => {
        const s = streamOf(t.plan);
        byStream.set(s, [...(byStream.get(s) ?? []), i]);
      });
      for (const [stream, indices] of byStream) entry.feeds.set(stream, new PeerFeed(peer, stream, indices, entry.pacer));
      peer.onConnected = () => {
        if (peer.isClosed) return;
        for (const [stream, feed] of entry.feeds) {
          const fan = this.fanout(stream);
          feed.startFromGop(fan.gopUnits());
          fan.feeds.add(feed);
        }
      };
      if (peer.connected) peer.onConnected();
      this.opts.post({ t: 'res', req: m.req, ok: true, answer, etag: peer.etag });
      return 'ok';
    } catch (e) {
      this.peers.delete(m.id);
      peer.close('setup failed');
      this.opts.post({ t: 'res', req: m.req, ok: false, status: 400, message: `cannot answer this offer: ${(e as Error).message}` });
      return 'failed';
    }
  }

  private async patch(req: number, id: string, frag: SdpFrag): Promise<void> {
    const e = this.peers.get(id);
    if (!e) {
      this.opts.post({ t: 'res', req, ok: false, status: 404, message: 'no such session' });
      return;
    }
    try {
      const r = await e.peer.patch(frag);
      if (r.restart) this.opts.post({ t: 'res', req, ok: true, restart: { ufrag: r.ufrag!, pwd: r.pwd!, candidates: r.candidates ?? [], mid: r.mid }, etag: e.peer.etag });
      else this.opts.post({ t: 'res', req, ok: true, etag: e.peer.etag });
    } catch (err) {
      this.opts.post({ t: 'res', req, ok: false, status: 400, message: `cannot apply the fragment: ${(err as Error).message}` });
    }
  }

  private postStats(): void {
    if (this.latency.length) {
      this.opts.post({ t: 'latency', samples: this.latency });
      this.latency = [];
    }
    if (this.peers.size === 0) return;
    const sessions = [...this.peers.entries()].map(([id, e]) => {
      let keyframesResent = 0;
      for (const f of e.feeds.values()) keyframesResent += f.keyframesResent;
      // Per m-section: a bundled session's viewers are its sections (two may show the same stream).
      const bytesBySection: Record<number, number> = {};
      for (const t of e.peer.tracks) bytesBySection[t.plan.mLine] = (bytesBySection[t.plan.mLine] ?? 0) + t.bytes;
      return { id, stats: { ...e.peer.stats(), keyframesResent }, bytesBySection };
    });
    this.opts.post({ t: 'stats', sessions });
  }

  dropStream(stream: string): void {
    this.streams.delete(stream);
  }

  close(): void {
    clearInterval(this.statsTimer);
    for (const e of [...this.peers.values()]) e.peer.close('server shutting down');
  }
}
