/**
 * The ways the restream delivers RTP: TCP interleaved on the RTSP connection (RFC 2326 §10.12), UDP
 * unicast from a server port pair taken from a configurable range, and UDP multicast.
 */
import dgram from 'node:dgram';
import type { Socket } from 'node:net';
import type { RtpSink, SenderTrack } from './sender.ts';
import { forEachFramed, type RtpFrame } from './shared.ts';
import { encodeInterleaved } from '../message.ts';

/** A pair of UDP sockets, RTP on an even port and RTCP on the next one (RFC 3550 §11). */
export interface ServerPortPair {
  rtpPort: number;
  rtcpPort: number;
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
  close(): void;
}

function bind(sock: dgram.Socket, port: number, address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = () => {
      sock.off('listening', onListening);
      resolve(false);
    };
    const onListening = () => {
      sock.off('error', onError);
      resolve(true);
    };
    sock.once('error', onError);
    sock.once('listening', onListening);
    try {
      sock.bind({ port, address, exclusive: true });
    } catch {
      sock.off('error', onError);
      sock.off('listening', onListening);
      resolve(false);
    }
  });
}

const closeQuietly = (s: dgram.Socket) => {
  try {
    s.close();
  } catch {
    /* already closed */
  }
};

/**
 * Server port pairs from a range [min, max]. Pairs in use are remembered so two sessions never share
 * one; a pair another process holds is skipped. At most (max-min+1)/2 pairs: beyond that SETUP fails.
 */
export class UdpPortPool {
  private readonly inUse = new Set<number>();
  private cursor: number;
  private readonly min: number;
  private readonly max: number;

  constructor(
    range: { min: number; max: number },
    private readonly address: string,
  ) {
    this.min = range.min + (range.min % 2);
    this.max = range.max;
    this.cursor = this.min;
  }

  get capacity(): number {
    return Math.max(0, Math.floor((this.max - this.min + 1) / 2));
  }

  get used(): number {
    return this.inUse.size;
  }

  async allocate(): Promise<ServerPortPair | undefined> {
    const n = this.capacity;
    for (let i = 0; i < n; i++) {
      const port = this.cursor;
      this.cursor += 2;
      if (this.cursor + 1 > this.max) this.cursor = this.min;
      if (this.inUse.has(port)) continue;
      this.inUse.add(port);
      const rtp = dgram.createSocket({ type: 'udp4' });
      const rtcp = dgram.createSocket({ type: 'udp4' });
      if ((await bind(rtp, port, this.address)) && (await bind(rtcp, port + 1, this.address))) {
        // Runtime errors (ICMP port unreachable after the reader left) must not crash the process.
        rtp.on('error', () => undefined);
        rtcp.on('error', () => undefined);
        let closed = false;
        return {
          rtpPort: port,
          rtcpPort: port + 1,
          rtp,
          rtcp,
          close: () => {
            if (closed) return;
            closed = true;
            closeQuietly(rtp);
            closeQuietly(rtcp);
            this.inUse.delete(port);
          },
        };
      }
      closeQuietly(rtp);
      closeQuietly(rtcp);
      this.inUse.delete(port);
    }
    return undefined;
  }
}

/** RTP and RTCP framed as `$ channel length` on the RTSP connection. */
export class InterleavedSink implements RtpSink {
  /** trackId → [rtp channel, rtcp channel] */
  readonly channels = new Map<number, [number, number]>();
  bytes = 0;

  constructor(private readonly socket: Socket) {}

  backlog(): number {
    return this.socket.writableLength;
  }

  waitDrain(ms: number): Promise<boolean> {
    const s = this.socket;
    if (s.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        s.off('drain', onDrain);
        s.off('close', onClose);
        resolve(v);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      s.once('drain', onDrain);
      s.once('close', onClose);
    });
  }

  sendFrame(track: SenderTrack, frame: RtpFrame): void {
    const ch = this.channels.get(track.trackId);
    if (!ch || this.socket.destroyed) return;
    // The stream's shared bytes for this channel, written as they are by every reader.
    const b = frame.interleaved(ch[0]);
    this.bytes += b.length;
    this.socket.write(b);
  }

  sendRtcp(track: SenderTrack, packet: Buffer): void {
    const ch = this.channels.get(track.trackId);
    if (!ch || this.socket.destroyed) return;
    this.socket.write(encodeInterleaved(ch[1], packet));
  }
}

/** UDP destinations per track: unicast (own socket pair per track) or multicast (one socket). */
export class DatagramSink implements RtpSink {
  /** trackId → where its RTP and RTCP go, and the socket they leave from. */
  readonly dest = new Map<number, { rtpSocket: dgram.Socket; rtcpSocket: dgram.Socket; address: string; rtpPort: number; rtcpPort: number }>();
  bytes = 0;

  backlog(): number {
    return 0;
  }

  waitDrain(): Promise<boolean> {
    return Promise.resolve(true);
  }

  sendRtp(track: SenderTrack, packets: { header: Buffer; payload: { parts: Buffer[] } }[]): void {
    const d = this.dest.get(track.trackId);
    if (!d) return;
    for (const p of packets) {
      const list = [p.header, ...p.payload.parts];
      for (const b of list) this.bytes += b.length;
      try {
        d.rtpSocket.send(list, d.rtpPort, d.address);
      } catch {
        // socket closed under us: the session is ending
      }
    }
  }

  sendFrame(track: SenderTrack, frame: RtpFrame): void {
    const d = this.dest.get(track.trackId);
    if (!d) return;
    forEachFramed(frame.data, (offset, length) => {
      this.bytes += length;
      try {
        d.rtpSocket.send(frame.data, offset, length, d.rtpPort, d.address);
      } catch {
        // socket closed under us: the session is ending
      }
    });
  }

  sendRtcp(track: SenderTrack, packet: Buffer): void {
    const d = this.dest.get(track.trackId);
    if (!d) return;
    try {
      d.rtcpSocket.send(packet, d.rtcpPort, d.address);
    } catch {
      /* closed */
    }
  }
}
