/**
 * Multicast delivery (RFC 2326 §12.39 `multicast;destination;port;ttl`): one group per stream, one
 * sender for everyone in it. Groups come from a configurable CIDR range and ports from a range; the
 * TTL defaults to 1 so the stream stays on the local subnet unless the admin says otherwise.
 */
import dgram from 'node:dgram';
import type { Stream } from '../../stream/stream.ts';
import { RtpSender, newSenderTrack, type SenderOptions, type SenderTrack } from './sender.ts';
import { DatagramSink } from './transport.ts';
import type { ServedMedia } from './media.ts';

function parseCidr(cidr: string): { base: number; size: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(cidr.trim());
  if (!m) throw new Error(`bad multicast range '${cidr}'`);
  const base = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const bits = m[5] === undefined ? 32 : Number(m[5]);
  const size = 2 ** (32 - Math.min(32, Math.max(4, bits)));
  return { base: base - (base % size), size };
}

const ipOf = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export class MulticastGroup {
  sender: RtpSender | undefined;
  readonly holders = new Set<object>();
  readonly joined = new Set<object>();

  constructor(
    readonly stream: Stream,
    readonly address: string,
    readonly ttl: number,
    readonly basePort: number,
    private readonly medias: ServedMedia[],
    private readonly socket: dgram.Socket,
    private readonly senderOptions: SenderOptions,
    /** Index of the address in the pool's range, and ports used from basePort (for release). */
    readonly slot: number,
    readonly portCount: number,
  ) {
    for (const m of medias) this.tracks.set(m.trackId, newSenderTrack(stream.tracks[m.trackId]!, m.payloadType));
  }

  /** One SSRC and sequence per track for the whole group, whoever joins when. */
  readonly tracks = new Map<number, SenderTrack>();

  ssrcOf(trackId: number): number | undefined {
    return this.tracks.get(trackId)?.ssrc;
  }

  portsOf(trackId: number): [number, number] | undefined {
    const i = this.medias.findIndex((m) => m.trackId === trackId);
    return i < 0 ? undefined : [this.basePort + 2 * i, this.basePort + 2 * i + 1];
  }

  /** A session starts playing; the group's sender starts with the first one. Returns RTP-Info. */
  join(session: object): { trackId: number; seq: number; rtptime: number }[] {
    this.joined.add(session);
    if (!this.sender || this.sender.isStopped) {
      const sink = new DatagramSink();
      const tracks = this.medias.map((m) => {
        const ports = this.portsOf(m.trackId)!;
        sink.dest.set(m.trackId, { rtpSocket: this.socket, rtcpSocket: this.socket, address: this.address, rtpPort: ports[0], rtcpPort: ports[1] });
        const t = this.tracks.get(m.trackId)!;
        // A new run maps time afresh (the stream may have restarted meanwhile).
        t.offset = undefined;
        t.lastRtp = undefined;
        t.lastWall = undefined;
        return t;
      });
      this.sender = new RtpSender(this.stream, tracks, sink, this.senderOptions);
      const info = this.sender.prepare();
      this.sender.run();
      return info;
    }
    return this.sender.currentRtpInfo();
  }

  /** Stops sending when nobody plays any more. */
  leave(session: object): void {
    this.joined.delete(session);
    if (this.joined.size === 0) {
      this.sender?.stop();
      this.sender = undefined;
    }
  }

  close(): void {
    this.sender?.stop();
    this.sender = undefined;
    try {
      this.socket.close();
    } catch {
      /* closed */
    }
  }
}

export class MulticastPool {
  private readonly groups = new Map<Stream, MulticastGroup>();
  private readonly range: { base: number; size: number };
  private readonly usedAddresses = new Set<number>();
  private readonly usedPorts = new Set<number>();

  constructor(private readonly opts: { groups: string; ports: { min: number; max: number }; ttl: number; interface?: string; bindAddress: string }) {
    this.range = parseCidr(opts.groups);
  }

  async acquire(stream: Stream, medias: ServedMedia[], senderOptions: SenderOptions): Promise<MulticastGroup | undefined> {
    const existing = this.groups.get(stream);
    if (existing) return existing;
    if (medias.length === 0) return undefined;
    let addr = -1;
    // Skip the network address (.0) of the range.
    for (let i = 1; i < this.range.size; i++) {
      if (!this.usedAddresses.has(i)) {
        addr = i;
        break;
      }
    }
    if (addr < 0) return undefined;
    const need = 2 * medias.length;
    let base = -1;
    const min = this.opts.ports.min + (this.opts.ports.min % 2);
    for (let p = min; p + need - 1 <= this.opts.ports.max; p += 2) {
      let free = true;
      for (let k = 0; k < need; k++) if (this.usedPorts.has(p + k)) free = false;
      if (free) {
        base = p;
        break;
      }
    }
    if (base < 0) return undefined;
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    socket.on('error', () => undefined);
    const bindAddr = this.opts.interface ?? (this.opts.bindAddress === '0.0.0.0' ? undefined : this.opts.bindAddress);
    await new Promise<void>((resolve) => socket.bind({ port: 0, address: bindAddr }, () => resolve()));
    try {
      socket.setMulticastTTL(this.opts.ttl);
      if (bindAddr) socket.setMulticastInterface(bindAddr);
      socket.setMulticastLoopback(true);
    } catch {
      // not fatal: defaults apply
    }
    this.usedAddresses.add(addr);
    for (let k = 0; k < need; k++) this.usedPorts.add(base + k);
    const g = new MulticastGroup(stream, ipOf((this.range.base + addr) >>> 0), this.opts.ttl, base, medias, socket, senderOptions, addr, need);
    this.groups.set(stream, g);
    return g;
  }

  /** A session leaves (TEARDOWN, timeout); the group goes when its last holder does. */
  release(g: MulticastGroup, session: object): void {
    g.holders.delete(session);
    g.leave(session);
    if (g.holders.size > 0 || g.joined.size > 0) return;
    if (this.groups.get(g.stream) === g) this.groups.delete(g.stream);
    this.usedAddresses.delete(g.slot);
    for (let k = 0; k < g.portCount; k++) this.usedPorts.delete(g.basePort + k);
    g.close();
  }

  hold(g: MulticastGroup, session: object): void {
    g.holders.add(session);
  }
}
