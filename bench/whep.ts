/**
 * npm run bench:whep — WebRTC (WHEP) output figures:
 *  1. glass-to-glass latency: the bench draws the wall clock as 40 black/white blocks into raw frames,
 *     ffmpeg (x264 zerolatency) encodes them, the H.264 goes into the hub, Chromium plays it over WHEP
 *     and decodes the blocks from a canvas at each presented frame;
 *  2. time to first frame (POST → first presented frame), warm engines; for the latency window that
 *     follows, Chromium and the encoder run at BENCH_PEER_NICE (default 10) behind the gateway;
 *  3. gateway CPU, event-loop lag, loss and hub→RTP-out latency for 10, 50 and 100 viewers of a
 *     4 Mbit/s stream. Viewers: light werift clients in a child process (test/interop/whep-werift-client.ts
 *     --light: werift ICE + DTLS, then RTP sequence gaps counted on the SRTP datagrams without
 *     decrypting, so the receivers do not starve the gateway of the machine's two cores).
 * Usage: npm run bench:whep [-- --viewers 1,10,50,100 --seconds 10 --skip-latency yes]
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { randomFillSync } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { Gateway } from '../src/gateway.ts';
import { whepRoutes } from '../src/webrtc/routes.ts';
import type { WebRtcService } from '../src/webrtc/service.ts';
import type { Config } from '../src/config/types.ts';
import type { AccessUnit } from '../src/stream/types.ts';
import type { Stream } from '../src/stream/stream.ts';
import { launchChromium } from '../test/helpers/browser.ts';
import { installWhepClient, whepPlay } from '../test/unit/webrtc/harness.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};

// ---------- gateway side ----------
const FFMPEG = 'ffmpeg';
const W = 640;
const H = 368;
const FPS = 25;
const BITS = 40;
const BLOCK = 16;

function pct(a: number[], p: number): number {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function splitAnnexB(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = -1;
  for (let i = 0; i + 3 <= buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && (buf[i + 2] === 1 || (buf[i + 2] === 0 && buf[i + 3] === 1))) {
      const sc = buf[i + 2] === 1 ? 3 : 4;
      if (start >= 0) out.push(buf.subarray(start, i));
      start = i + sc;
      i += sc - 1;
    }
  }
  if (start >= 0) out.push(buf.subarray(start));
  return out.filter((n) => n.length > 0);
}

async function gateway(): Promise<{ gw: Gateway; base: string; service: WebRtcService; stream: Stream; close(): Promise<void> }> {
  const min = 30000 + Math.floor(Math.random() * 20000);
  const config: Config = {
    server: { http: { host: '127.0.0.1', port: 0 }, rtsp: { host: '127.0.0.1', port: 0 }, webrtc: { udpPorts: { min, max: min + 299 }, additionalHosts: [], iceServers: [] } },
    hls: { partDurationMs: 200, segmentDurationMs: 1000, segmentCount: 7, alwaysRemux: false },
    users: [],
    cameras: [{ id: 'bench', name: 'bench', url: 'builtin:demo', transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: [] }],
  };
  const gw = new Gateway(config, silent);
  gw.start();
  // The bench is the camera: stop the demo source and publish into its stream directly.
  await gw.camera('bench')!.stop();
  let service!: WebRtcService;
  const app = Fastify();
  await app.register(whepRoutes, { gateway: gw, webrtc: { maxSessions: 500 }, onService: (s) => (service = s) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  await service.start();
  return { gw, base: `http://127.0.0.1:${port}`, service, stream: gw.hub.get('bench')!, close: async () => { await app.close(); await gw.stop(); } };
}

/** Live x264 encoder fed with frames stamped with the wall clock; each output chunk ends an access unit. */
function stampedSource(stream: Stream, bitrate: string): { stop(): void } {
  const ff = spawn(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${W}x${H}`, '-r', String(FPS), '-i', 'pipe:0', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'high', '-g', String(FPS * 2), '-b:v', bitrate, '-maxrate', bitrate, '-bufsize', bitrate, '-x264-params', 'threads=1:sliced-threads=0:repeat-headers=1', '-flush_packets', '1', '-f', 'h264', 'pipe:1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let started = false;
  let pending: Buffer[] = [];
  const t0 = Date.now();
  let n = 0;
  ff.stdout.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    const nalus = splitAnnexB(Buffer.concat(pending));
    pending = [];
    const vcl = nalus.some((x) => (x[0]! & 0x1f) === 1 || (x[0]! & 0x1f) === 5);
    if (!vcl) {
      pending.push(Buffer.concat(nalus.map((x) => Buffer.concat([Buffer.from([0, 0, 0, 1]), x]))));
      return;
    }
    const key = nalus.some((x) => (x[0]! & 0x1f) === 5);
    const sps = nalus.find((x) => (x[0]! & 0x1f) === 7);
    const pps = nalus.find((x) => (x[0]! & 0x1f) === 8);
    if (!started) {
      if (!key || !sps || !pps) return;
      stream.start([{ id: 0, kind: 'video', codec: 'H264', clockRate: 90000, params: { sps, pps, width: W, height: H, fps: FPS } }]);
      started = true;
    }
    const pts = Math.round(((Date.now() - t0) * 90000) / 1000);
    const au: AccessUnit = { track: 0, codec: 'H264', pts, dts: pts, clockRate: 90000, wallclock: Date.now(), keyframe: key, data: nalus.filter((x) => (x[0]! & 0x1f) !== 9), epoch: stream.epoch };
    stream.publish(au);
  });
  const frame = Buffer.alloc((W * H * 3) / 2, 128);
  const timer = setInterval(() => {
    const now = Date.now();
    frame.fill(0, 0, W * H);
    // Noise below the stamp: the encoder needs the whole bitrate budget, like a busy scene.
    randomFillSync(frame, BLOCK * 2 * W, W * H);
    for (let b = 0; b < BITS; b++) {
      const bit = Math.floor(now / 2 ** b) % 2;
      for (let y = 0; y < BLOCK * 2; y++) frame.fill(bit ? 235 : 16, y * W + b * BLOCK, y * W + b * BLOCK + BLOCK);
    }
    n++;
    if (ff.stdin.writable) ff.stdin.write(frame);
  }, 1000 / FPS);
  return { stop: () => { clearInterval(timer); ff.kill('SIGKILL'); } };
}

const PAGE_DECODER = `
window.g2g = [];
window.watchStamp = () => {
  const v = document.querySelector('video');
  const c = document.createElement('canvas'); c.width = ${W}; c.height = ${BLOCK * 2};
  const ctx = c.getContext('2d', { willReadFrequently: true });
  const cb = () => {
    ctx.drawImage(v, 0, 0, ${W}, ${BLOCK * 2}, 0, 0, ${W}, ${BLOCK * 2});
    const px = ctx.getImageData(0, 0, ${W}, ${BLOCK * 2}).data;
    let ms = 0;
    for (let b = 0; b < ${BITS}; b++) { const i = ((${BLOCK} * ${W}) + b * ${BLOCK} + ${BLOCK / 2}) * 4; if (px[i] > 128) ms += 2 ** b; }
    const now = Date.now() % 2 ** ${BITS};
    window.g2g.push(now - ms);
    v.requestVideoFrameCallback(cb);
  };
  v.requestVideoFrameCallback(cb);
};`;

const PEER_NICE = Number(process.env.BENCH_PEER_NICE ?? 10);

/**
 * Every thread of every process descended from `root` (not `root` itself) to `nice`: Linux nice is per
 * thread, so each task id gets it; threads started later inherit it from the thread that starts them.
 */
function reniceDescendants(root: number, nice: number): void {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // the process ended meanwhile
    }
  }
  const todo = [...(children.get(root) ?? [])];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    todo.push(...(children.get(pid) ?? []));
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) os.setPriority(Number(tid), nice);
    } catch {
      // gone, or not ours
    }
  }
}

async function latencyAndTtff(seconds: number): Promise<void> {
  const g = await gateway();
  const src = stampedSource(g.stream, '1500k');
  const browser = await launchChromium({ webrtc: true });
  try {
    while (!g.stream.lastKeyframe()) await new Promise((r) => setTimeout(r, 50));
    const page = await browser.newPage();
    await page.goto(`${g.base}/blank`).catch(() => undefined);
    await installWhepClient(page);
    await page.addScriptTag({ content: PAGE_DECODER });
    // Time to first frame: five viewers one after another (the first also warms Chromium).
    const ttff: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await whepPlay(page, `${g.base}/whep/bench`, { audio: false });
      let ff: number | undefined;
      for (let k = 0; k < 100 && ff === undefined; k++) {
        await new Promise((res) => setTimeout(res, 20));
        ff = (await page.evaluate(`window.pcs[${r.index}].firstFrameAt`)) as number | undefined;
      }
      if (i > 0 && ff !== undefined) ttff.push(ff);
      if (i < 5) await page.evaluate(`(async () => { const e = window.pcs[${r.index}]; await fetch(e.location, { method: 'DELETE' }); e.pc.close(); e.video && e.video.remove(); })()`);
    }
    // The viewer (Chromium) and the camera (x264) stand in for other machines: behind the gateway on
    // these two shared cores, as bench:rtsp runs its readers (BENCH_PEER_NICE, default 10; 0 = off).
    if (PEER_NICE !== 0) reniceDescendants(process.pid, PEER_NICE);
    await page.evaluate('window.watchStamp()');
    // Let the five closed sessions of the first-frame loop finish tearing down (DTLS close, sockets,
    // their garbage) before the latency window opens: it measures one viewer, not the others' exit.
    await new Promise((r) => setTimeout(r, 2000));
    g.service.addedLatency = [];
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const g2g = ((await page.evaluate('window.g2g')) as number[]).filter((x) => x > -1000 && x < 10_000);
    const added = g.service.addedLatency;
    console.log(`glass-to-glass (${W}x${H} ${FPS} fps, x264 zerolatency, Chromium, loopback): n=${g2g.length} p50=${pct(g2g, 50)} ms p95=${pct(g2g, 95)} ms max=${Math.max(...g2g)} ms`);
    console.log(`time to first frame (POST→first presented frame, 2 s GOP, warm): ${ttff.map((x) => x.toFixed(0)).join(', ')} ms; p50=${pct(ttff, 50).toFixed(0)} ms`);
    // Units over the 2 ms target, so that runs can be pooled (a 10 s window's p99 is its third-worst unit).
    const over = added.filter((x) => x > 2).length;
    console.log(`hub→RTP out, 1 viewer: p50=${pct(added, 50).toFixed(3)} ms p99=${pct(added, 99).toFixed(3)} ms max=${Math.max(...added).toFixed(2)} ms (n=${added.length}; over 2 ms: ${over})`);
  } finally {
    await browser.close();
    src.stop();
    await g.close();
  }
}

/** utime+stime of a process (all threads), in seconds. */
function procCpuS(pid: number | undefined): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Kernel UDP drop counters (whole machine): receive-buffer overflows vs send-buffer overflows. */
function udpDrops(): { rcvbuf: number; sndbuf: number } {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const keys = lines[0]!.split(/\s+/);
    const vals = lines[1]!.split(/\s+/).map(Number);
    return { rcvbuf: vals[keys.indexOf('RcvbufErrors')] ?? NaN, sndbuf: vals[keys.indexOf('SndbufErrors')] ?? NaN };
  } catch {
    return { rcvbuf: NaN, sndbuf: NaN };
  }
}

async function scale(counts: number[], seconds: number): Promise<void> {
  const g = await gateway();
  const src = stampedSource(g.stream, '4000k');
  try {
    while (!g.stream.lastKeyframe()) await new Promise((r) => setTimeout(r, 50));
    for (const n of counts) {
      const client = fileURLToPath(new URL('../test/interop/whep-werift-client.ts', import.meta.url));
      const child = spawn(process.execPath, ['--import', 'tsx', client, `${g.base}/whep/bench`, String(n), '--light', '--stagger', '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let last = { connected: 0, packets: 0, lost: 0 };
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) last = JSON.parse(line);
      });
      const t0 = Date.now();
      while (last.connected < n && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 200));
      await new Promise((r) => setTimeout(r, 2000));
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      g.service.addedLatency = [];
      const cpu0 = process.cpuUsage();
      const c0 = procCpuS(child.pid);
      const d0 = udpDrops();
      const w0 = Date.now();
      const p0 = last.packets;
      const l0 = last.lost;
      const bytes0 = g.stream.stats().bytes;
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const cpu = process.cpuUsage(cpu0);
      const wall = (Date.now() - w0) / 1000;
      const childCpu = ((procCpuS(child.pid) - c0) / wall) * 100;
      const d1 = udpDrops();
      h.disable();
      const mbps = ((g.stream.stats().bytes - bytes0) * 8) / wall / 1e6;
      const added = g.service.addedLatency;
      console.log(
        `${n} viewers @ ${mbps.toFixed(1)} Mbit/s: connected ${last.connected}/${n}; gateway CPU ${(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(0)} % of one core; ` +
          `event-loop lag p50 ${(h.percentile(50) / 1e6).toFixed(1)} ms p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms; packets ${last.packets - p0}, lost ${last.lost - l0} (kernel UDP drops on the machine: receive buffers ${d1.rcvbuf - d0.rcvbuf}, send buffers ${d1.sndbuf - d0.sndbuf}), failed setups ${(last as { failed?: number }).failed ?? 0}; hub→RTP out p50 ${pct(added, 50).toFixed(2)} ms p99 ${pct(added, 99).toFixed(2)} ms; receivers' CPU ${childCpu.toFixed(0)} %; load ${os.loadavg()[0]!.toFixed(1)}`,
      );
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      for (const s of g.gw.sessions.list()) s.kick();
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    src.stop();
    await g.close();
  }
}

const seconds = Number(arg('seconds', '10'));
console.log(`bench:whep on ${process.platform} node ${process.version}`);
if (arg('skip-latency', 'no') === 'no') await latencyAndTtff(seconds);
await scale(arg('viewers', '1,10,50,100').split(',').map(Number), seconds);
process.exit(0);
