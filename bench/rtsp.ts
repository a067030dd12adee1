/**
 * npm run bench:rtsp
 *
 * The RTSP restream under load. This process is the gateway (a `url: publisher` camera and the RTSP
 * server); a child process pushes a 4 Mbit/s 720p25 H.264 stream to it over RTSP (ANNOUNCE/RECORD,
 * TCP) and runs N TCP readers. Prints, for 10, 50 and 200 readers: the gateway's CPU (% of one core)
 * and RSS, and the latency the gateway adds from the publisher's last RTP packet of a frame to the
 * readers' last RTP packet of that frame (p50/p99, measured in the child on one clock).
 *
 * Each access unit carries a small filler NAL (type 12, ignored by decoders) with a counter, so the
 * readers can tell which frame a packet belongs to.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { splitAnnexB } from '../src/codecs/annexb.ts';
import { H264Packetizer } from '../src/codecs/h264/index.ts';
import { RtspDemuxer, RtspHeaders, serializeRequest, encodeInterleaved, type RtspResponse } from '../src/rtsp/message.ts';

const SELF = fileURLToPath(import.meta.url);
const READERS = (process.env.BENCH_READERS ?? '10,50,200').split(',').map(Number);
const WARMUP_MS = 3000;
const MEASURE_MS = 8000;

function loadAus(): Buffer[][] {
  const work = path.join(tmpdir(), 'camgate-bench');
  mkdirSync(work, { recursive: true });
  const file = path.join(work, 'h264-720p25-4mbit.h264');
  if (!existsSync(file)) {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25', '-t', '10',
      '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '0', '-g', '50', '-b:v', '4M', '-minrate', '4M', '-maxrate', '4M', '-bufsize', '2M',
      '-x264-params', 'nal-hrd=cbr:aud=1', '-f', 'h264', file]);
  }
  const aus: Buffer[][] = [];
  let cur: Buffer[] = [];
  for (const n of splitAnnexB(readFileSync(file))) {
    if ((n[0]! & 0x1f) === 9) {
      if (cur.length) aus.push(cur);
      cur = [];
      continue;
    }
    cur.push(n);
  }
  if (cur.length) aus.push(cur);
  return aus;
}

// ───────────────────────── child: publisher + readers ─────────────────────────

class Conn {
  readonly demux = new RtspDemuxer();
  private cseq = 0;
  private waiters: ((r: RtspResponse) => void)[] = [];
  session = '';
  onFrame?: (ch: number, p: Buffer) => void;
  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      if (!this.onFrame && this.waiters.length === 0) return; // a counting reader: bytes only
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
}

async function child(port: number, readers: number): Promise<void> {
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
      marker.writeUInt32BE(i, 1);
      marker[5] = 0x80;
      const packets = pk.packetize([...aus[i % aus.length]!, marker], i * 3600);
      pub.socket.cork();
      for (const p of packets) pub.socket.write(encodeInterleaved(0, p));
      pub.socket.uncork();
      sentAt.set(i, performance.now());
      if (sentAt.size > 500) sentAt.delete(i - 500);
      i++;
    }
  };
  const timer = setInterval(pump, 2);

  // Readers: a few parse packets for latency, the rest only count bytes (the child must keep up).
  const latencies: number[] = [];
  let bytes = 0;
  const measureEvery = Math.max(1, Math.floor(readers / 8));
  const conns: Conn[] = [];
  for (let r = 0; r < readers; r++) {
    const c = await Conn.open(port);
    conns.push(c);
    const d = await c.req('DESCRIBE', url);
    const base = d.headers.get('Content-Base') ?? `${url}/`;
    await c.req('SETUP', `${base}trackID=0`, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
    let current = -1;
    if (r % measureEvery === 0) {
      c.onFrame = (ch, p) => {
        if (ch !== 0 || p.length < 14) return;
        const pl = p.subarray(12);
        const type = pl[0]! & 0x1f;
        if (type === 12 && pl.length >= 5) current = pl.readUInt32BE(1);
        else if (type === 24) {
          // STAP-A: the counter NAL is the last unit when it fits with others
          let o = 1;
          while (o + 2 < pl.length) {
            const n = pl.readUInt16BE(o);
            if ((pl[o + 2]! & 0x1f) === 12 && n >= 5 && o + 7 <= pl.length) current = pl.readUInt32BE(o + 3);
            o += 2 + n;
          }
        }
        if ((p[1]! & 0x80) !== 0 && current >= 0) {
          const s = sentAt.get(current);
          if (s !== undefined && latencies.length < 1_000_000) latencies.push(performance.now() - s);
          current = -1;
        }
      };
    }
    c.socket.on('data', (b: Buffer) => (bytes += b.length));
    await c.req('PLAY', base);
  }
  process.stdout.write('READY\n');
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  latencies.length = 0;
  const b0 = bytes;
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const lat = latencies.slice().sort((x, y) => x - y);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  process.stdout.write(`RESULT ${JSON.stringify({ p50: q(0.5), p99: q(0.99), samples: lat.length, mbitPerReader: ((bytes - b0) * 8) / (MEASURE_MS / 1000) / 1e6 / readers })}\n`);
  clearInterval(timer);
  for (const c of conns) c.socket.destroy();
  pub.socket.destroy();
}

// ───────────────────────── parent: the gateway ─────────────────────────

async function parent(): Promise<void> {
  const { Gateway } = await import('../src/gateway.ts');
  const { RtspServer } = await import('../src/rtsp/server.ts');
  loadAus(); // make the clip before timing anything
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const rows: string[] = [];
  for (const n of READERS) {
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
    const kid = spawn(process.execPath, ['--import', 'tsx', SELF, '--child', String(port), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const ready = new Promise<void>((resolve) => kid.stdout.on('data', (d: Buffer) => ((out += d.toString()), out.includes('READY') && resolve())));
    await ready;
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    let rss = 0;
    const sampler = setInterval(() => (rss = Math.max(rss, process.memoryUsage().rss)), 200);
    await new Promise((r) => setTimeout(r, MEASURE_MS - 500));
    clearInterval(sampler);
    const c1 = process.cpuUsage(c0);
    const cpu = ((c1.user + c1.system) / 1000 / (performance.now() - w0)) * 100;
    await new Promise<void>((resolve) => kid.once('close', () => resolve()));
    const m = /RESULT (.*)/.exec(out);
    const r = m ? (JSON.parse(m[1]!) as { p50: number; p99: number; samples: number; mbitPerReader: number }) : { p50: NaN, p99: NaN, samples: 0, mbitPerReader: 0 };
    const overflows = server.list().reduce((s, x) => s + x.details.overflows, 0);
    rows.push(
      `| ${n} | ${cpu.toFixed(1)} % | ${(rss / 1048576).toFixed(0)} MiB | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${r.mbitPerReader.toFixed(2)} | ${r.samples} | ${overflows} |`,
    );
    console.log(rows[rows.length - 1]);
    await server.close();
    await gateway.stop();
  }
  console.log('\n| readers | gateway CPU (1 core = 100 %) | gateway RSS (peak) | added latency p50 | p99 | Mbit/s per reader | latency samples | queue overflows |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

if (process.argv[2] === '--child') {
  child(Number(process.argv[3]), Number(process.argv[4])).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
} else {
  parent().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
