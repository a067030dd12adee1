/**
 * UDP socket pairs for RTP/RTCP over UDP (RFC 3550 §11: RTP on an even port, RTCP on the next odd
 * one) and multicast group membership (RFC 2326 §12.39 destination/port).
 *
 * These sockets never throw into the caller: bind failures come back as a rejected promise from
 * the open functions; runtime socket errors (e.g. ECONNREFUSED provoked by ICMP port-unreachable
 * after our NAT punch packets) are reported through `onError` and otherwise ignored.
 */
import dgram from 'node:dgram';

export interface UdpDatagram {
  payload: Buffer;
  address: string;
  port: number;
}

export interface UdpPair {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  /** called for every datagram; `rtcp` tells which socket of the pair received it */
  onPacket?: (rtcp: boolean, d: UdpDatagram) => void;
  onError?: (e: Error) => void;
  send(rtcp: boolean, payload: Buffer, port: number, address: string): void;
  close(): void;
}

/** strip the IPv4-mapped prefix Node puts on addresses of dual-stack sockets */
export const normalizeAddress = (a: string | undefined): string =>
  a === undefined ? '' : a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;

const bindSocket = (sock: dgram.Socket, port: number, address: string | undefined): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    const onErr = (e: Error) => {
      sock.off('listening', onListening);
      reject(e);
    };
    const onListening = () => {
      sock.off('error', onErr);
      resolve();
    };
    sock.once('error', onErr);
    sock.once('listening', onListening);
    try {
      sock.bind({ port, address, exclusive: true });
    } catch (e) {
      sock.off('error', onErr);
      sock.off('listening', onListening);
      reject(e as Error);
    }
  });

const closeQuietly = (s: dgram.Socket) => {
  try {
    s.close();
  } catch {
    /* already closed */
  }
};

class DgramPair implements UdpPair {
  onPacket?: (rtcp: boolean, d: UdpDatagram) => void;
  onError?: (e: Error) => void;
  private closed = false;

  constructor(
    private readonly rtp: dgram.Socket,
    private readonly rtcp: dgram.Socket,
    readonly rtpPort: number,
    readonly rtcpPort: number,
    private readonly multicastGroup?: string,
    private readonly multicastInterface?: string,
  ) {
    for (const [sock, isRtcp] of [
      [rtp, false],
      [rtcp, true],
    ] as const) {
      sock.on('message', (msg, rinfo) => {
        if (this.closed) return;
        this.onPacket?.(isRtcp, { payload: msg, address: normalizeAddress(rinfo.address), port: rinfo.port });
      });
      // ICMP port-unreachable for our punch packets surfaces as ECONNREFUSED on Linux: harmless
      sock.on('error', (e) => {
        if (!this.closed) this.onError?.(e);
      });
    }
  }

  send(rtcp: boolean, payload: Buffer, port: number, address: string): void {
    if (this.closed || !(port > 0 && port < 65536)) return;
    const s = rtcp ? this.rtcp : this.rtp;
    try {
      s.send(payload, port, address, (e) => {
        if (e && !this.closed) this.onError?.(e);
      });
    } catch (e) {
      this.onError?.(e as Error);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.multicastGroup) {
      for (const s of [this.rtp, this.rtcp]) {
        try {
          s.dropMembership(this.multicastGroup, this.multicastInterface);
        } catch {
          /* membership already gone */
        }
      }
    }
    closeQuietly(this.rtp);
    closeQuietly(this.rtcp);
  }
}

const family = (address: string): 'udp4' | 'udp6' => (address.includes(':') ? 'udp6' : 'udp4');

/**
 * Bind an RTP/RTCP pair on `localAddress` (the local address of the RTSP control connection, so
 * media arrives on the interface that faces the camera). RTP gets an even port, RTCP port+1.
 */
export async function openUdpPair(localAddress: string, attempts = 40): Promise<UdpPair> {
  const type = family(localAddress);
  let lastError: Error | undefined;
  for (let i = 0; i < attempts; i++) {
    const rtp = dgram.createSocket({ type });
    // first try lets the OS choose; later tries pick a random even port in the dynamic range
    const wanted = i === 0 ? 0 : 2 * Math.floor((49152 + Math.random() * (65534 - 49152)) / 2);
    try {
      await bindSocket(rtp, wanted, localAddress);
    } catch (e) {
      lastError = e as Error;
      closeQuietly(rtp);
      continue;
    }
    const port = rtp.address().port;
    if (port % 2 !== 0 || port + 1 > 65535) {
      closeQuietly(rtp);
      continue;
    }
    const rtcp = dgram.createSocket({ type });
    try {
      await bindSocket(rtcp, port + 1, localAddress);
    } catch (e) {
      lastError = e as Error;
      closeQuietly(rtp);
      closeQuietly(rtcp);
      continue;
    }
    return new DgramPair(rtp, rtcp, port, port + 1);
  }
  throw lastError ?? new Error('could not bind an even/odd UDP port pair');
}

/**
 * Join `group` on `port` (RTP) and `port+1` (RTCP). reuseAddr because other receivers on the
 * same host may listen to the same group; the interface is the control connection's local
 * address so the join happens on the interface facing the camera.
 */
export async function openMulticastPair(group: string, port: number, localInterface: string): Promise<UdpPair> {
  if (!(port > 0 && port < 65535)) throw new Error(`invalid multicast port ${port}`);
  const type = family(group);
  const rtp = dgram.createSocket({ type, reuseAddr: true });
  const rtcp = dgram.createSocket({ type, reuseAddr: true });
  try {
    await bindMulticast(rtp, port);
    await bindMulticast(rtcp, port + 1);
    for (const s of [rtp, rtcp]) {
      s.addMembership(group, localInterface || undefined);
      if (localInterface) s.setMulticastInterface(localInterface);
    }
  } catch (e) {
    closeQuietly(rtp);
    closeQuietly(rtcp);
    throw e;
  }
  return new DgramPair(rtp, rtcp, port, port + 1, group, localInterface || undefined);
}

const bindMulticast = (sock: dgram.Socket, port: number): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, () => {
      sock.off('error', reject);
      resolve();
    });
  });
