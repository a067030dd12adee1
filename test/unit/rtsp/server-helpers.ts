/**
 * A raw RTSP client for the server tests: one TCP connection, requests written by hand, responses and
 * interleaved frames parsed with the shared demuxer. It can stop reading (a stalled NVR) at will.
 */
import net from 'node:net';
import { RtspDemuxer, RtspHeaders, serializeRequest, type RtspResponse } from '../../../src/rtsp/message.ts';
import { Gateway } from '../../../src/gateway.ts';
import type { Config, UserConfig, CameraConfig } from '../../../src/config/types.ts';
import { RtspServer, type RtspServerOptions } from '../../../src/rtsp/server.ts';

export const silent = { debug() {}, info() {}, warn() {}, error() {} };

export function testConfig(cameras: Partial<CameraConfig>[] = [], users: UserConfig[] = []): Config {
  return {
    server: { http: { host: '127.0.0.1', port: 0 }, rtsp: { host: '127.0.0.1', port: 0 }, webrtc: { udpPorts: { min: 0, max: 0 }, additionalHosts: [], iceServers: [] } },
    hls: { partDurationMs: 200, segmentDurationMs: 1000, segmentCount: 7, alwaysRemux: false },
    users,
    cameras: cameras.map((c) => ({ id: c.id!, name: c.id!, url: 'builtin:demo', transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: [], ...c })),
  } as Config;
}

export async function startServer(
  cameras: Partial<CameraConfig>[] = [],
  users: UserConfig[] = [],
  opts: Partial<RtspServerOptions> = {},
): Promise<{ gateway: Gateway; server: RtspServer; port: number; url: (p: string) => string; stop: () => Promise<void> }> {
  const gateway = new Gateway(testConfig(cameras, users), silent);
  gateway.start();
  const base = 20000 + Math.floor(Math.random() * 20000);
  const server = new RtspServer({ gateway, host: '127.0.0.1', port: 0, udpPorts: { min: base, max: base + 199 }, logger: silent, ...opts });
  const port = await server.listen();
  return {
    gateway,
    server,
    port,
    url: (p: string) => `rtsp://127.0.0.1:${port}/${p.replace(/^\//, '')}`,
    stop: async () => {
      await server.close();
      await gateway.stop();
    },
  };
}

export class RawRtspClient {
  readonly socket: net.Socket;
  private readonly demux = new RtspDemuxer();
  private cseq = 0;
  private waiters: ((r: RtspResponse) => void)[] = [];
  readonly frames: { channel: number; payload: Buffer; at: number }[] = [];
  onFrame?: (channel: number, payload: Buffer) => void;
  closed: Promise<void>;
  isClosed = false;
  session: string | undefined;
  authorization: ((method: string, uri: string) => string | undefined) | undefined;
  /** keep at most this many frames */
  maxFrames = 20000;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      for (const ev of this.demux.push(d)) {
        if (ev.type === 'response') this.waiters.shift()?.(ev);
        else if (ev.type === 'interleaved') {
          if (this.frames.length < this.maxFrames) this.frames.push({ channel: ev.channel, payload: ev.payload, at: Date.now() });
          this.onFrame?.(ev.channel, ev.payload);
        }
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<RawRtspClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawRtspClient(s)));
      s.once('error', reject);
    });
  }

  request(method: string, uri: string, headers: Record<string, string> = {}, body?: Buffer): Promise<RtspResponse> {
    const h = new RtspHeaders({ CSeq: String(++this.cseq), ...headers });
    if (this.session && !('Session' in headers)) h.set('Session', this.session);
    const auth = this.authorization?.(method, uri);
    if (auth) h.set('Authorization', auth);
    if (body) h.set('Content-Type', 'application/sdp');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method} timed out`)), 15000);
      this.waiters.push((r) => {
        clearTimeout(timer);
        const s = r.headers.get('Session');
        if (s) this.session = s.split(';')[0]!.trim();
        resolve(r);
      });
      this.socket.write(serializeRequest({ method, uri, headers: h, body }));
    });
  }

  /** DESCRIBE, SETUP every track over TCP interleaved, PLAY. */
  async playTcp(url: string): Promise<{ describe: RtspResponse; play: RtspResponse; controls: string[] }> {
    const describe = await this.request('DESCRIBE', url, { Accept: 'application/sdp' });
    if (describe.statusCode !== 200) throw new Error(`DESCRIBE ${describe.statusCode}`);
    const controls = [...describe.body.toString().matchAll(/a=control:(trackID=\d+)/g)].map((m) => m[1]!);
    const base = describe.headers.get('Content-Base')!;
    for (let i = 0; i < controls.length; i++) {
      const r = await this.request('SETUP', base + controls[i], { Transport: `RTP/AVP/TCP;unicast;interleaved=${2 * i}-${2 * i + 1}` });
      if (r.statusCode !== 200) throw new Error(`SETUP ${r.statusCode}`);
    }
    const play = await this.request('PLAY', base, { Range: 'npt=0.000-' });
    return { describe, play, controls };
  }

  close(): void {
    this.socket.destroy();
  }
}
