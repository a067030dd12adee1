/**
 * The WebRTC engine of one thread: the WHEP peers it hosts and the per-stream fan-out. The same
 * class runs inside each worker thread (worker.ts) and, in tests or with workers disabled, in the
 * main thread. Its inputs and outputs are plain messages (see EngineIn/EngineOut), so the main
 * thread never touches werift objects and a worker is a drop-in.
 */
import type { AccessUnit } from '../stream/types.ts';
import type { SendPlan } from './negotiate.ts';
import type { SdpFrag } from './sdpfrag.ts';
import { WhepPeer, type PeerStats } from './peer.ts';
import { PeerFeed, StreamFanout } from './fanout.ts';

export type EngineIn =
  | { t: 'create'; req: number; id: string; stream: string; plans: SendPlan[]; offer: string; additionalHosts: string[] }
  | { t: 'patch'; req: number; id: string; frag: SdpFrag }
  | { t: 'close'; id: string; reason: string }
  | { t: 'au'; stream: string; au: AccessUnit; /** performance.timeOrigin + now() when the main thread posted it */ at?: number }
  | { t: 'reset'; stream: string };

export type EngineOut =
  | { t: 'res'; req: number; ok: true; answer?: string; restart?: { ufrag: string; pwd: string; candidates: string[]; mid?: string }; etag?: number }
  | { t: 'res'; req: number; ok: false; status: number; message: string }
  | { t: 'closed'; id: string; reason: string }
  | { t: 'stats'; sessions: { id: string; stats: PeerStats & { keyframesResent: number } }[] }
  | { t: 'ack'; stream: string; n: number }
  | { t: 'latency'; samples: number[] };

/** Access units acknowledged in batches so the main thread can bound what is in flight. */
export const ACK_EVERY = 16;

export interface EngineOptions {
  /** UDP ports for this engine's ICE sockets (disjoint per worker: werift's port search is not atomic across threads). */
  portRange?: [number, number];
  post: (m: EngineOut) => void;
  log?: (msg: string) => void;
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export class Engine {
  private readonly peers = new Map<string, { peer: WhepPeer; feed?: PeerFeed; stream: string }>();
  private readonly streams = new Map<string, StreamFanout>();
  private readonly acks = new Map<string, number>();
  /** werift picks an ICE port by probing the range; setups run one at a time so two never pick the same port. */
  private setupChain: Promise<unknown> = Promise.resolve();
  private statsTimer: NodeJS.Timeout;
  /** Hub → wire time per access unit (ms): from the main thread's post to the last peer's send. */
  private latency: number[] = [];

  constructor(private readonly opts: EngineOptions) {
    this.statsTimer = setInterval(() => this.postStats(), 1000);
    this.statsTimer.unref();
  }

  handle(m: EngineIn): void {
    switch (m.t) {
      case 'au':
        this.onAu(m.stream, m.au);
        if (m.at !== undefined && this.latency.length < 4096) this.latency.push(performance.timeOrigin + performance.now() - m.at);
        break;
      case 'reset':
        this.streams.get(m.stream)?.reset();
        break;
      case 'create':
        this.setupChain = this.setupChain.then(() => this.create(m)).catch(() => undefined);
        break;
      case 'patch':
        void this.patch(m.req, m.id, m.frag);
        break;
      case 'close':
        this.peers.get(m.id)?.peer.close(m.reason);
        break;
    }
  }

  private onAu(stream: string, raw: AccessUnit): void {
    const au: AccessUnit = { ...raw, data: raw.data.map(toBuffer) };
    this.streams.get(stream)?.push(au);
    const n = (this.acks.get(stream) ?? 0) + 1;
    if (n >= ACK_EVERY) {
      this.acks.set(stream, 0);
      this.opts.post({ t: 'ack', stream, n });
    } else this.acks.set(stream, n);
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
    const fan = this.fanout(m.stream);
    const entry: { peer: WhepPeer; feed?: PeerFeed; stream: string } = { peer: undefined as unknown as WhepPeer, stream: m.stream };
    const peer = new WhepPeer({
      id: m.id,
      plans: m.plans,
      offer: m.offer,
      portRange: this.opts.portRange,
      additionalHosts: m.additionalHosts,
      log: this.opts.log,
      onClose: (reason) => {
        if (entry.feed) fan.feeds.delete(entry.feed);
        this.peers.delete(m.id);
        this.opts.post({ t: 'closed', id: m.id, reason });
      },
      onKeyframeRequest: (plan) => {
        const i = peer.tracks.findIndex((t) => t.plan === plan);
        entry.feed?.resendGop(i, fan.gopUnits());
      },
    });
    entry.peer = peer;
    this.peers.set(m.id, entry);
    try {
      const answer = await peer.answer();
      entry.feed = new PeerFeed(peer, m.stream);
      peer.onConnected = () => {
        if (!entry.feed || peer.isClosed) return;
        entry.feed.startFromGop(fan.gopUnits());
        fan.feeds.add(entry.feed);
      };
      if (peer.connected) peer.onConnected();
      this.opts.post({ t: 'res', req: m.req, ok: true, answer, etag: peer.etag });
    } catch (e) {
      this.peers.delete(m.id);
      peer.close('setup failed');
      this.opts.post({ t: 'res', req: m.req, ok: false, status: 400, message: `cannot answer this offer: ${(e as Error).message}` });
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
    const sessions = [...this.peers.entries()].map(([id, e]) => ({ id, stats: { ...e.peer.stats(), keyframesResent: e.feed?.keyframesResent ?? 0 } }));
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
