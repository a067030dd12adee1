/**
 * npm run bench:rtsp
 *
 * The RTSP restream under load: 1 camera (a `url: publisher` camera fed a 4 Mbit/s 720p25 H.264 clip
 * over RTSP/TCP) served to N TCP readers, for N = 10, 50, 200 (BENCH_READERS).
 *
 * Four kinds of process, so that no single process has to do everything on one thread:
 * - the gateway (`--gateway`): the Gateway and RtspServer, started with the same V8 flags as
 *   `bin/camgate.js` (`--initial-old-space-size=128 --max-semi-space-size=16 --no-memory-reducer`);
 * - the source (`--source`): the publisher plus PROBES readers that parse every packet; they connect
 *   last, so the gateway writes each frame to them after all the others (worst case);
 * - drains (`--drain`): the other N-PROBES readers, which only count bytes, spread over 2 processes;
 * - or, with BENCH_SERVER=relay (or both: each row twice), a bare relay in place of the gateway
 *   (`--relay`): fixed replies and one write loop per frame, the floor of this machine for the same
 *   fan-out (BENCH_RELAY_THREADS=K spreads its writes over K threads);
 * - this orchestrator, which waits for a quiet machine (1-min load average below BENCH_MAX_LOAD,
 *   default 1.5, for at most BENCH_MAX_WAIT_S) before each row and only exchanges a few IPC
 *   messages. BENCH_NICE=-10 runs the bench processes at that priority (root only) when the machine
 *   is shared and never gets quiet; the load average is printed with every row either way.
 *
 * Two latencies, measured on one clock each:
 * - gateway: inside the gateway, from the socket read that carried a frame's last RTP packet to the
 *   `socket.write` of that frame to each reader returning (the gateway's own delay; every reader);
 * - end to end: in the source process, from the publisher writing a frame's last packet to a probe
 *   reader receiving that frame's last packet (gateway + kernel loopback + scheduling of both ends).
 * Each access unit carries a small filler NAL (type 12, ignored by decoders) with a counter, so the
 * probes can tell which frame a packet belongs to.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { H264Packetizer } from '../src/codecs/h264/index.ts';
import { RtspDemuxer, RtspHeaders, serializeRequest, serializeResponse, encodeInterleaved, type RtspResponse } from '../src/rtsp/message.ts';
import type { AccessUnit } from '../src/stream/types.ts';
import { fourMbitAccessUnits } from './lib/source.ts';

const SELF = fileURLToPath(import.meta.url);
const READERS = (process.env.BENCH_READERS ?? '10,50,200').split(',').map(Number);
const PROBES = 4;
/** BENCH_SERVER=gateway (default), relay, or both (each row twice: gateway, then the bare relay). */
const SERVERS = ((): ('gateway' | 'relay')[] => {
  const v = process.env.BENCH_SERVER ?? 'gateway';
  return v === 'both' ? ['gateway', 'relay'] : v === 'relay' ? ['relay'] : ['gateway'];
})();
const DRAIN_PROCS = 2;
const WARMUP_MS = 3000;
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS ?? 10_000);
const MAX_LOAD = Number(process.env.BENCH_MAX_LOAD ?? 1.5);
const MAX_WAIT_S = Number(process.env.BENCH_MAX_WAIT_S ?? 900);
const V8_FLAGS = ['--initial-old-space-size=128', '--max-semi-space-size=16', '--no-memory-reducer'];
/** BENCH_NICE=-10 (as root): run the bench's processes ahead of other work on a shared machine. */
const PRIORITY = process.env.BENCH_NICE === undefined ? undefined : Number(process.env.BENCH_NICE);
/**
 * BENCH_READER_NICE (default 10): the priority of the source and reader processes. On loopback every
 * write wakes a reader, and a woken reader at the gateway's own priority preempts the gateway in the
 * middle of its fan-out (seen as 1-13 ms stalls inside one socket read, with no GC). Real readers run on
 * other machines, so here they run behind the gateway.
 */
const READER_PRIORITY = Number(process.env.BENCH_READER_NICE ?? 10);

const loadAus = fourMbitAccessUnits;

/**
 * The frame counter as 4 bytes of 7 bits with the top bit set: a NAL unit must not contain 00 00 0x
 * (H.264 emulation prevention), and a plain big-endian counter does once it passes 255.
 */
function writeCounter(b: Buffer, o: number, n: number): void {
  for (let k = 0; k < 4; k++) b[o + k] = 0x80 | ((n >>> (7 * (3 - k))) & 0x7f);
}
function readCounter(b: Buffer, o: number): number {
  let n = 0;
  for (let k = 0; k < 4; k++) n = (n << 7) | (b[o + k]! & 0x7f);
  return n;
}

const quantile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const summary = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1] ?? NaN };
};
type Summary = ReturnType<typeof summary>;

/**
 * Latency samples in a preallocated Float64Array (off the JS heap): growing arrays of numbers, or a
 * Map keyed by access unit that kept every unit alive, made the gateway's own young-generation GC
 * copy the bench's bookkeeping, which showed up in the very latencies being measured.
 */
class Samples {
  private readonly a: Float64Array;
  n = 0;
  constructor(max: number) {
    this.a = new Float64Array(max);
  }
  /** Stores a sample; returns its index, or -1 once the array is full. */
  push(v: number): number {
    if (this.n >= this.a.length) return -1;
    this.a[this.n] = v;
    return this.n++;
  }
  max(i: number, v: number): void {
    if (i >= 0 && v > this.a[i]!) this.a[i] = v;
  }
  reset(): void {
    this.n = 0;
  }
  summary(): Summary {
    return summary(Array.from(this.a.subarray(0, this.n)));
  }
}

/** One request at a time over a socket; interleaved frames go to onFrame (if set). */
class Conn {
  readonly demux = new RtspDemuxer();
  private cseq = 0;
  private waiters: ((r: RtspResponse) => void)[] = [];
  session = '';
  onFrame?: (ch: number, p: Buffer) => void;
  /** After PLAY, a drain reader stops parsing and only counts. */
  countOnly = false;
  bytes = 0;
  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.bytes += d.length;
      if (this.countOnly) return;
      for (const ev of this.demux.push(d)) {
        if (ev.type === 'response') this.waiters.shift()?.(ev);
        else if (ev.type === 'interleaved') this.onFrame?.(ev.channel, ev.payload);
      }
    });
    socket.on('error', () => undefined);
  }
  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  req(method: string, uri: string, headers: Record<string, string> = {}, body?: Buffer): Promise<RtspResponse> {
    const h = new RtspHeaders({ CSeq: ++this.cseq, ...headers });
    if (this.session) h.set('Session', this.session);
    if (body) h.set('Content-Type', 'application/sdp');
    return new Promise((resolve) => {
      this.waiters.push((r) => {
        const s = r.headers.get('Session');
        if (s) this.session = s.split(';')[0]!;
        resolve(r);
      });
      this.socket.write(serializeRequest({ method, uri, headers: h, body }));
    });
  }
  /** DESCRIBE, SETUP the video track over TCP, PLAY. */
  async play(url: string): Promise<void> {
    const d = await this.req('DESCRIBE', url);
    if (d.statusCode !== 200) throw new Error(`DESCRIBE ${d.statusCode}`);
    const base = d.headers.get('Content-Base') ?? `${url}/`;
    await this.req('SETUP', `${base}trackID=0`, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
    const p = await this.req('PLAY', base);
    if (p.statusCode !== 200) throw new Error(`PLAY ${p.statusCode}`);
  }
}

type Msg = { type: string; [k: string]: unknown };
const send = (m: Msg) => process.send!(m);
const onMessage = (fn: (m: Msg) => void) => process.on('message', (m) => fn(m as Msg));

// ───────────────────────── gateway process ─────────────────────────

async function gatewayMain(): Promise<void> {
  const { Gateway } = await import('../src/gateway.ts');
  const { RtspServer } = await import('../src/rtsp/server.ts');
  const { RtpSender } = await import('../src/rtsp/server/sender.ts');
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const gateway = new Gateway(
    {
      server: { http: { host: '', port: 0 }, rtsp: { host: '127.0.0.1', port: 0 }, webrtc: { udpPorts: { min: 0, max: 0 }, additionalHosts: [], iceServers: [] } },
      hls: { partDurationMs: 200, segmentDurationMs: 1000, segmentCount: 7, alwaysRemux: false },
      users: [],
      cameras: [{ id: 'bench', name: 'bench', url: 'publisher', transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: [] }],
    },
    silent,
  );
  gateway.start();
  const server = new RtspServer({ gateway, host: '127.0.0.1', port: 0, logger: silent, maxConnections: 4096, maxSessions: 4096 });
  const port = await server.listen();

  // Instrumentation (bench only), all on the gateway's clock:
  // - in: when the socket chunk that completed an access unit was read (RtspServer.onData);
  // - ingest: in → the access unit reaches the hub (Stream.publish);
  // - first write: publish → the first reader's write of it starts (numbering and framing, done once);
  // - socket write: how long each reader's InterleavedSink.sendFrame (one socket.write) takes;
  // - per write: in → each reader's write returned; last reader: in → the frame's last write returned.
  let chunkAt = 0;

  const proto = RtspServer.prototype as unknown as { onData: (this: unknown, conn: unknown, chunk: Buffer) => void };
  const onData = proto.onData;
  proto.onData = function (conn, chunk) {
    chunkAt = performance.now();
    onData.call(this, conn, chunk);
  };
  let measuring = false;
  const stream = gateway.hub.get('bench')!;
  const inAt = new WeakMap<AccessUnit, number>();
  const publishedAt = new WeakMap<AccessUnit, number>();
  const publish = stream.publish.bind(stream);
  const ingest = new Samples(100_000);
  stream.publish = (au: AccessUnit) => {
    const now = performance.now();
    inAt.set(au, chunkAt);
    publishedAt.set(au, now);
    if (measuring) ingest.push(now - chunkAt);
    publish(au);
  };
  const perWrite = new Samples(2_000_000);
  const perWriteKey = new Samples(100_000);
  const firstWrite = new Samples(100_000);
  const socketWrite = new Samples(2_000_000);
  const fanout = new Samples(100_000); // the last reader's write, per access unit
  const fanoutAt = new WeakMap<AccessUnit, number>(); // access unit → its index in fanout
  // Both send paths: per-reader numbering (multicast) and the shared frames (unicast readers).
  type SendFn = (this: unknown, t: unknown, au: AccessUnit, ...rest: unknown[]) => void;
  const sproto = RtpSender.prototype as unknown as Record<'send' | 'sendShared', SendFn | undefined>;
  for (const name of ['send', 'sendShared'] as const) {
    const orig = sproto[name];
    if (!orig) continue;
    sproto[name] = function (t, au, ...rest) {
      const at = inAt.get(au);
      const pub = publishedAt.get(au);
      if (measuring && pub !== undefined && !fanoutAt.has(au)) {
        firstWrite.push(performance.now() - pub);
        fanoutAt.set(au, fanout.push(0));
      }
      orig.call(this, t, au, ...rest);
      if (!measuring || at === undefined) return;
      const d = performance.now() - at;
      perWrite.push(d);
      if (au.keyframe && au.codec === 'H264') perWriteKey.push(d);
      fanout.max(fanoutAt.get(au) ?? -1, d);
    };
  }
  const { InterleavedSink } = await import('../src/rtsp/server/transport.ts');
  const ip = InterleavedSink.prototype as unknown as { sendFrame: (this: unknown, ...a: unknown[]) => void };
  const sendFrame = ip.sendFrame;
  ip.sendFrame = function (...a) {
    const t = performance.now();
    sendFrame.apply(this, a);
    if (measuring) socketWrite.push(performance.now() - t);
  };
  const gc: number[] = [];
  const gcKinds: Record<string, number> = {};
  const KIND: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };
  new PerformanceObserver((list) => {
    if (!measuring) return;
    for (const e of list.getEntries()) {
      gc.push(e.duration);
      const k = KIND[(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
      gcKinds[k] = Math.max(gcKinds[k] ?? 0, e.duration);
    }
  }).observe({ entryTypes: ['gc'] });
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();

  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  let rss = 0;
  let sampler: NodeJS.Timeout | undefined;
  onMessage(async (m) => {
    if (m.type === 'start') {
      measuring = true;
      perWrite.reset();
      perWriteKey.reset();
      ingest.reset();
      firstWrite.reset();
      socketWrite.reset();
      fanout.reset();
      gc.length = 0;
      for (const k of Object.keys(gcKinds)) delete gcKinds[k];
      eld.reset();
      rss = process.memoryUsage().rss;
      sampler = setInterval(() => (rss = Math.max(rss, process.memoryUsage().rss)), 100);
      cpu0 = process.cpuUsage();
      wall0 = performance.now();
    } else if (m.type === 'stop') {
      const c = process.cpuUsage(cpu0);
      const wall = performance.now() - wall0;
      measuring = false;
      clearInterval(sampler);
      send({
        type: 'stats',
        cpu: ((c.user + c.system) / 1000 / wall) * 100,
        rss,
        write: perWrite.summary(),
        writeKey: perWriteKey.summary(),
        fanout: fanout.summary(),
        gc: { count: gc.length, totalMs: gc.reduce((a, b) => a + b, 0), max: Math.max(0, ...gc), maxByKind: gcKinds },
        loopDelayP99: eld.percentile(99) / 1e6,
        loopDelayMax: eld.max / 1e6,
        ingest: ingest.summary(),
        firstWrite: firstWrite.summary(),
        socketWrite: socketWrite.summary(),
        sessions: server.list().filter((s) => s.mode === 'play').length,
        overflows: server.list().reduce((s, x) => s + x.details.overflows, 0),
      });
    } else if (m.type === 'exit') {
      await server.close();
      await gateway.stop();
      process.exit(0);
    }
  });
  send({ type: 'port', port });
}

// ───────────────────────── source process: publisher + probe readers ─────────────────────────

async function sourceMain(port: number, probes: number): Promise<void> {
  const aus = loadAus();
  const url = `rtsp://127.0.0.1:${port}/bench`;
  const sps = aus[0]!.find((n) => (n[0]! & 0x1f) === 7)!;
  const pps = aus[0]!.find((n) => (n[0]! & 0x1f) === 8)!;
  const sdp = [
    'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=bench', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000',
    `a=fmtp:96 packetization-mode=1;sprop-parameter-sets=${sps.toString('base64')},${pps.toString('base64')}`, 'a=control:streamid=0', '',
  ].join('\r\n');
  const pub = await Conn.open(port);
  const a = await pub.req('ANNOUNCE', url, {}, Buffer.from(sdp));
  if (a.statusCode !== 200) throw new Error(`ANNOUNCE ${a.statusCode}`);
  await pub.req('SETUP', `${url}/streamid=0`, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record' });
  const rec = await pub.req('RECORD', url);
  if (rec.statusCode !== 200) throw new Error(`RECORD ${rec.statusCode}`);

  const sentAt = new Map<number, number>();
  const pk = new H264Packetizer({ payloadType: 96, ssrc: 0x1234, mtu: 1400 });
  let i = 0;
  const t0 = performance.now();
  const pump = () => {
    while ((i * 1000) / 25 <= performance.now() - t0) {
      const marker = Buffer.alloc(6);
      marker[0] = 12; // filler data NAL with our frame counter; ends in 0x80 as NAL units do
      writeCounter(marker, 1, i);
      marker[5] = 0x80;
      const packets = pk.packetize([...aus[i % aus.length]!, marker], i * 3600);
      // Stamped before the write: a server at a higher priority can preempt this process between
      // the write and a stamp taken after it, and then end to end would come out shorter than real.
      sentAt.set(i, performance.now());
      pub.socket.cork();
      for (const p of packets) pub.socket.write(encodeInterleaved(0, p));
      pub.socket.uncork();
      if (sentAt.size > 500) sentAt.delete(i - 500);
      i++;
    }
  };
  const timer = setInterval(pump, 1);

  let measuring = false;
  /** Frames whose last packet came without our counter (should stay 0). */
  let noCounter = 0;
  const latencies: number[] = [];
  const conns: Conn[] = [];
  // The probes connect after the drains (the orchestrator says when), so they are the last readers the
  // gateway writes each frame to: their latency is the worst case.
  send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  for (let r = 0; r < probes; r++) {
    const c = await Conn.open(port);
    conns.push(c);
    let current = -1;
    c.onFrame = (ch, p) => {
      if (ch !== 0 || p.length < 14) return;
      const pl = p.subarray(12);
      const type = pl[0]! & 0x1f;
      if (type === 12 && pl.length >= 5) current = readCounter(pl, 1);
      else if (type === 24) {
        // STAP-A: the counter NAL is the last unit when it fits with others
        let o = 1;
        while (o + 2 < pl.length) {
          const n = pl.readUInt16BE(o);
          if ((pl[o + 2]! & 0x1f) === 12 && n >= 5 && o + 7 <= pl.length) current = readCounter(pl, o + 3);
          o += 2 + n;
        }
      }
      if ((p[1]! & 0x80) !== 0 && current < 0) noCounter++;
      if ((p[1]! & 0x80) !== 0 && current >= 0) {
        const s = sentAt.get(current);
        if (measuring && s !== undefined && latencies.length < 1_000_000) latencies.push(performance.now() - s);
        current = -1;
      }
    };
    await c.play(url);
  }
  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  onMessage((m) => {
    if (m.type === 'start') {
      measuring = true;
      latencies.length = 0;
      cpu0 = process.cpuUsage();
      wall0 = performance.now();
    } else if (m.type === 'stop') {
      measuring = false;
      const c = process.cpuUsage(cpu0);
      send({ type: 'stats', noCounter, e2e: summary(latencies), cpu: ((c.user + c.system) / 1000 / (performance.now() - wall0)) * 100 });
    } else if (m.type === 'exit') {
      clearInterval(timer);
      for (const c of conns) c.socket.destroy();
      pub.socket.destroy();
      process.exit(0);
    }
  });
  send({ type: 'probes-ready' });
}

// ───────────────────────── drain process: readers that only count ─────────────────────────

async function drainMain(port: number, n: number): Promise<void> {
  const url = `rtsp://127.0.0.1:${port}/bench`;
  const conns: Conn[] = [];
  for (let r = 0; r < n; r++) {
    const c = await Conn.open(port);
    conns.push(c);
    await c.play(url);
    c.countOnly = true;
  }
  const total = () => conns.reduce((s, c) => s + c.bytes, 0);
  let b0 = 0;
  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  onMessage((m) => {
    if (m.type === 'start') {
      b0 = total();
      cpu0 = process.cpuUsage();
      wall0 = performance.now();
    } else if (m.type === 'stop') {
      const c = process.cpuUsage(cpu0);
      const wall = performance.now() - wall0;
      send({ type: 'stats', bytes: total() - b0, readers: n, cpu: ((c.user + c.system) / 1000 / wall) * 100 });
    } else if (m.type === 'exit') {
      for (const c of conns) c.socket.destroy();
      process.exit(0);
    }
  });
  send({ type: 'ready' });
}

// ───────────────────────── bare relay: the machine's floor for the same fan-out ─────────────────────────

/**
 * `--relay` (BENCH_SERVER=relay or both): in place of the gateway, the least a relay can do. It answers
 * the same readers' and publisher's requests with fixed replies, collects each frame's `$`-framed
 * packets as they come, and on the frame's last packet writes them with a plain loop of
 * `socket.write` to every reader: no hub, no queues, no numbering, no RTCP. Measured like the
 * gateway (socket read → each write returned), with the same readers, source and priorities, it is
 * the floor this machine puts under the gateway's numbers.
 */
/**
 * BENCH_RELAY_THREADS=K: the relay's writes spread over K worker threads, each writing its share of
 * the readers' sockets with write(2) on their file descriptors (`fs.writeSync`), so the fan-out runs
 * on as many cores as there are. A plain-JS worker, since module hooks (tsx) don't reach workers.
 */
const RELAY_THREADS = Number(process.env.BENCH_RELAY_THREADS ?? 0);
const RELAY_WRITER = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const hrMs = () => Number(process.hrtime.bigint()) / 1e6;
const fds = [];
const perWrite = new Float64Array(2000000);
const fanout = new Float64Array(100000);
let n = 0, frames = 0, measuring = false, spins = 0;
parentPort.on('message', (m) => {
  if (m.add !== undefined) fds.push(m.add);
  else if (m.start) { measuring = true; n = 0; frames = 0; spins = 0; }
  else if (m.stop) { measuring = false; parentPort.postMessage({ perWrite: perWrite.slice(0, n), fanout: fanout.slice(0, frames), spins }); }
  else {
    const buf = m.buf;
    let last = 0;
    for (const fd of fds) {
      for (let o = 0; o < buf.length; ) {
        try { o += fs.writeSync(fd, buf, o, buf.length - o); } catch (e) { if (e.code !== 'EAGAIN') break; spins++; }
      }
      if (!measuring) continue;
      last = hrMs();
      if (n < perWrite.length) perWrite[n++] = last - m.t;
    }
    if (measuring && fds.length > 0 && frames < fanout.length) fanout[frames++] = last - m.t;
  }
});
`;
const hrMs = () => Number(process.hrtime.bigint()) / 1e6;

async function relayMain(): Promise<void> {
  const { Worker } = await import('node:worker_threads');
  const writers = Array.from({ length: RELAY_THREADS }, () => new Worker(RELAY_WRITER, { eval: true }));
  const readers: net.Socket[] = [];
  let chunkAt = 0;
  let measuring = false;
  const perWrite = new Samples(2_000_000);
  const fanout = new Samples(100_000);
  const socketWrite = new Samples(2_000_000);
  let parts: Buffer[] = [];
  const reply = (sock: net.Socket, cseq: string, extra: Record<string, string>, body?: Buffer) => {
    const h = new RtspHeaders({ CSeq: cseq, Session: '1;timeout=60', ...extra });
    if (body) h.set('Content-Type', 'application/sdp');
    sock.write(serializeResponse({ statusCode: 200, headers: h, body }));
  };
  const fanOut = () => {
    const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    parts = [];
    if (writers.length > 0) {
      const t = hrMs() - (performance.now() - chunkAt); // the chunk's read, on the clock all threads share
      for (const w of writers) w.postMessage({ buf, t });
      return;
    }
    let last = 0;
    for (const r of readers) {
      const t = measuring ? performance.now() : 0;
      r.write(buf);
      if (!measuring) continue;
      last = performance.now();
      socketWrite.push(last - t);
      perWrite.push(last - chunkAt);
    }
    if (measuring && readers.length > 0) fanout.push(last - chunkAt);
  };
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => undefined);
    sock.on('close', () => {
      const i = readers.indexOf(sock);
      if (i >= 0) readers.splice(i, 1);
    });
    const demux = new RtspDemuxer();
    sock.on('data', (chunk: Buffer) => {
      chunkAt = performance.now();
      for (const ev of demux.push(chunk)) {
        if (ev.type === 'interleaved') {
          if (ev.channel !== 0 || ev.payload.length < 12) continue;
          parts.push(encodeInterleaved(0, ev.payload));
          if ((ev.payload[1]! & 0x80) !== 0) fanOut();
        } else if (ev.type === 'request') {
          const cseq = ev.headers.get('CSeq') ?? '0';
          if (ev.method === 'DESCRIBE') {
            const sdp = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=relay\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n';
            reply(sock, cseq, { 'Content-Base': `${ev.uri.replace(/\/+$/, '')}/` }, Buffer.from(sdp));
          } else if (ev.method === 'SETUP') reply(sock, cseq, { Transport: ev.headers.get('Transport') ?? '' });
          else if (ev.method === 'PLAY') {
            reply(sock, cseq, { Range: 'npt=now-' });
            // A bench shortcut: the fd of a socket this process keeps open to the end, never reused.
            const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
            if (writers.length > 0 && typeof fd === 'number') writers[readers.length % writers.length]!.postMessage({ add: fd });
            readers.push(sock);
          } else reply(sock, cseq, {});
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  const empty = summary([]);
  onMessage(async (m) => {
    if (m.type === 'start') {
      measuring = true;
      perWrite.reset();
      fanout.reset();
      socketWrite.reset();
      for (const w of writers) w.postMessage({ start: true });
      cpu0 = process.cpuUsage();
      wall0 = performance.now();
    } else if (m.type === 'stop') {
      const c = process.cpuUsage(cpu0);
      const wall = performance.now() - wall0;
      measuring = false;
      if (writers.length > 0) {
        // The frame's last write is the latest of the threads' last writes for that frame.
        const got = await Promise.all(writers.map((w) => new Promise<{ perWrite: Float64Array; fanout: Float64Array; spins: number }>((r) => { w.once('message', r); w.postMessage({ stop: true }); })));
        for (const g of got) for (const v of g.perWrite) perWrite.push(v);
        const frames = Math.min(...got.map((g) => g.fanout.length));
        for (let i = 0; i < frames; i++) fanout.push(Math.max(...got.map((g) => g.fanout[i]!)));
        const spins = got.reduce((a, g) => a + g.spins, 0);
        if (spins > 0) process.stderr.write(`relay threads: ${spins} writes found a full socket\n`);
      }
      send({
        type: 'stats',
        cpu: ((c.user + c.system) / 1000 / wall) * 100,
        rss: process.memoryUsage().rss,
        write: perWrite.summary(),
        writeKey: empty,
        fanout: fanout.summary(),
        gc: { count: 0, totalMs: 0, max: 0, maxByKind: {} },
        loopDelayP99: NaN,
        loopDelayMax: NaN,
        ingest: empty,
        firstWrite: empty,
        socketWrite: socketWrite.summary(),
        sessions: readers.length,
        overflows: 0,
      });
    } else if (m.type === 'exit') {
      for (const r of readers) r.destroy();
      server.close();
      for (const w of writers) void w.terminate();
      process.exit(0);
    }
  });
  send({ type: 'port', port });
}

// ───────────────────────── orchestrator ─────────────────────────

const loadavg = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

/** CPU time the hypervisor gave to other guests (`steal` in /proc/stat), in jiffies, and the total. */
function cpuTimes(): { steal: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { steal: f[7] ?? 0, total: f.reduce((a, b) => a + b, 0) };
}

async function waitQuiet(): Promise<number> {
  const end = Date.now() + MAX_WAIT_S * 1000;
  let l = loadavg();
  let said = false;
  while (l >= MAX_LOAD && Date.now() < end) {
    if (!said) process.stderr.write(`waiting for the 1-min load average (${l}) to drop below ${MAX_LOAD}…\n`);
    said = true;
    await new Promise((r) => setTimeout(r, 5000));
    l = loadavg();
  }
  return l;
}

function start(args: string[]): { kid: ChildProcess; next: (type: string) => Promise<Msg> } {
  // BENCH_PROF=DIR: a V8 CPU profile of the gateway (for finding where its time goes).
  const server = args[0] === '--gateway' || args[0] === '--relay';
  const prof = args[0] === '--gateway' && process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  // BENCH_GATEWAY_FLAGS="--flag …": extra Node/V8 flags for the gateway (for trying GC settings).
  const extra = server ? (process.env.BENCH_GATEWAY_FLAGS ?? '').split(' ').filter(Boolean) : [];
  const kid = fork(SELF, args, { execArgv: [...V8_FLAGS, ...prof, ...extra, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: Msg[] = [];
  const waiters: ((m: Msg) => void)[] = [];
  const prio = server ? PRIORITY : READER_PRIORITY;
  if (prio !== undefined && kid.pid !== undefined) {
    try {
      setPriority(kid.pid, prio);
    } catch (e) {
      process.stderr.write(`BENCH_NICE: ${(e as Error).message}\n`);
    }
  }
  // BENCH_GATEWAY_RR=N (root): the gateway's main thread under SCHED_RR at priority N (`chrt -r -p N`).
  // Without it a woken gateway can wait in the run queue behind the bench's own readers and source
  // (runnable-wait of 2-5 ms measured from /proc/thread-self/schedstat, even at nice -10 against 10).
  if (server && process.env.BENCH_GATEWAY_RR && kid.pid !== undefined) {
    const r = spawnSync('chrt', ['-r', '-p', process.env.BENCH_GATEWAY_RR, String(kid.pid)], { encoding: 'utf8' });
    if (r.status !== 0) process.stderr.write(`BENCH_GATEWAY_RR: chrt failed: ${r.stderr || r.error}\n`);
  }
  kid.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m as Msg);
    else queue.push(m as Msg);
  });
  const next = (type: string) =>
    new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${args[0]}: no '${type}' in 120 s`)), 120_000);
      const got = (m: Msg) => {
        clearTimeout(timer);
        if (m.type !== type) reject(new Error(`${args[0]}: expected '${type}', got '${m.type}'`));
        else resolve(m);
      };
      const q = queue.shift();
      if (q) got(q);
      else waiters.push(got);
    });
  kid.once('exit', (code) => {
    if (code) for (const w of waiters.splice(0)) w({ type: `exit ${code}` });
  });
  return { kid, next };
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');

async function orchestrate(): Promise<void> {
  loadAus(); // make the clip before timing anything
  const rows: string[] = [];
  const details: string[] = [];
  for (const n of READERS) for (const kind of SERVERS) {
    const loadBefore = await waitQuiet();
    const gw = start([`--${kind}`]);
    const port = Number((await gw.next('port')).port);
    const probes = Math.min(PROBES, n);
    const src = start(['--source', String(port), String(probes)]);
    await src.next('ready');
    const rest = n - probes;
    const procs = rest === 0 ? 0 : Math.min(DRAIN_PROCS, rest);
    const drains = Array.from({ length: procs }, (_, k) => start(['--drain', String(port), String(Math.floor(rest / procs) + (k < rest % procs ? 1 : 0))]));
    for (const d of drains) await d.next('ready');
    src.kid.send({ type: 'probes' });
    await src.next('probes-ready');
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const all = [gw, src, ...drains];
    const cpuBefore = cpuTimes();
    for (const p of all) p.kid.send({ type: 'start' });
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const loadDuring = loadavg();
    const cpuAfter = cpuTimes();
    const steal = (100 * (cpuAfter.steal - cpuBefore.steal)) / Math.max(1, cpuAfter.total - cpuBefore.total);
    for (const p of all) p.kid.send({ type: 'stop' });
    const g = (await gw.next('stats')) as unknown as {
      cpu: number; rss: number; write: Summary; writeKey: Summary; fanout: Summary; ingest: Summary; firstWrite: Summary; socketWrite: Summary; gc: { count: number; totalMs: number; max: number; maxByKind: Record<string, number> };
      loopDelayP99: number; loopDelayMax: number; sessions: number; overflows: number;
    };
    const s = (await src.next('stats')) as unknown as { e2e: Summary; cpu: number; noCounter: number };
    const ds = (await Promise.all(drains.map((d) => d.next('stats')))) as unknown as { bytes: number; readers: number; cpu: number }[];
    for (const p of all) p.kid.send({ type: 'exit' });
    await Promise.all(all.map((p) => new Promise((r) => (p.kid.exitCode !== null ? r(null) : p.kid.once('exit', r)))));
    const drained = ds.reduce((a, d) => a + d.bytes, 0);
    const drainReaders = ds.reduce((a, d) => a + d.readers, 0);
    const mbit = drainReaders ? (drained * 8) / (MEASURE_MS / 1000) / 1e6 / drainReaders : NaN;
    const readerCpu = s.cpu + ds.reduce((a, d) => a + d.cpu, 0);
    rows.push(
      `| ${n} | ${kind} | ${loadBefore.toFixed(2)} / ${loadDuring.toFixed(2)} | ${steal.toFixed(1)} % | ${g.cpu.toFixed(1)} % | ${(g.rss / 1048576).toFixed(0)} MiB | ${ms(g.write.p50)} / ${ms(g.write.p99)} ms | ${ms(g.fanout.p50)} / ${ms(g.fanout.p99)} ms | ${ms(s.e2e.p50)} / ${ms(s.e2e.p99)} ms | ${mbit.toFixed(2)} | ${readerCpu.toFixed(0)} % | ${g.overflows} |`,
    );
    details.push(
      `N=${n} ${kind}: sessions ${g.sessions}; gateway steps p50/p99: ingest ${ms(g.ingest.p50)}/${ms(g.ingest.p99)} ms, ` +
        `publish → first write ${ms(g.firstWrite.p50)}/${ms(g.firstWrite.p99)} ms, one socket write ${ms(g.socketWrite.p50 * 1000)}/${ms(g.socketWrite.p99 * 1000)} µs; keyframe writes p50/max ${ms(g.writeKey.p50)}/${ms(g.writeKey.max)} ms (n ${g.writeKey.n}); gateway writes ${g.write.n} (max ${ms(g.write.max)} ms), frames ${g.fanout.n} (max ${ms(g.fanout.max)} ms); ` +
        `e2e samples ${s.e2e.n} (frames without counter ${s.noCounter}, max ${ms(s.e2e.max)} ms); GC ${g.gc.count}× ${g.gc.totalMs.toFixed(1)} ms total, max ${ms(g.gc.max)} ms ${JSON.stringify(g.gc.maxByKind)}; ` +
        `event-loop delay p99 ${ms(g.loopDelayP99)} ms, max ${ms(g.loopDelayMax)} ms`,
    );
    console.log(rows[rows.length - 1]);
    console.log(details[details.length - 1]);
  }
  console.log(`\nmeasured ${MEASURE_MS / 1000} s after ${WARMUP_MS / 1000} s warm-up; ${PROBES} probe readers, the rest in ${DRAIN_PROCS} drain processes\n`);
  console.log('| readers | server | load 1-min before / during | CPU steal | server CPU (1 core = 100 %) | server RSS (peak) | delay per write p50 / p99 | last reader of a frame p50 / p99 | end to end p50 / p99 | Mbit/s per reader | reader processes CPU | queue overflows |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log('');
  for (const d of details) console.log(`- ${d}`);
}

const role = process.argv[2];
const main =
  role === '--gateway'
    ? gatewayMain()
    : role === '--source'
      ? sourceMain(Number(process.argv[3]), Number(process.argv[4]))
      : role === '--drain'
        ? drainMain(Number(process.argv[3]), Number(process.argv[4]))
        : role === '--relay'
          ? relayMain()
          : orchestrate().then(() => process.exit(0));
main.catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
