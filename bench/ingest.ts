/**
 * npm run bench:ingest [-- 10 50 100]
 *
 * Feeds N simulated 4 Mbit/s H.264 cameras (RTSP, TCP interleaved, from a light replayer process) to
 * camgate, and prints camgate's CPU % and RSS per camera. The same cameras are then pulled by
 * `ffmpeg -rtsp_transport tcp -i … -c copy -f hls`, one process per camera, in the same run, and the
 * ratio is printed. Only 127.0.0.1 is used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { fourMbitSource, BENCH_WORK } from './lib/source.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORK = BENCH_WORK;
const CLK_TCK = 100;
const SAMPLE_S = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 30);
/** The node flags of bin/camgate.js's shebang, so the benchmark runs camgate as `npx camgate` does. */
const NODE_FLAGS = (process.env.CAMGATE_NODE_FLAGS ?? readFileSync(path.join(ROOT, 'bin/camgate.js'), 'utf8').split('\n')[0]!.match(/node (.*)$/)?.[1] ?? '').split(' ').filter(Boolean);
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const NS = counts.length ? counts : [10, 50, 100];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function waitLine(child: ChildProcess, re: RegExp, timeoutMs = 20000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${buf.slice(-500)}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(re);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${buf.slice(-500)}`)));
  });
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return 0;
  }
}

function rssKb(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function measure(pids: number[], seconds: number): Promise<{ cpuPercent: number; rssMb: number }> {
  const t0 = performance.now();
  const c0 = pids.reduce((a, p) => a + cpuTicks(p), 0);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const c1 = pids.reduce((a, p) => a + cpuTicks(p), 0);
  const wall = (performance.now() - t0) / 1000;
  const rss = pids.reduce((a, p) => a + rssKb(p), 0) / 1024;
  return { cpuPercent: ((c1 - c0) / CLK_TCK / wall) * 100, rssMb: rss };
}

function kill(children: ChildProcess[]): Promise<void> {
  return Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 3000).unref();
        }),
    ),
  ).then(() => undefined);
}

async function startCamgate(n: number, rtspPort: number): Promise<{ child: ChildProcess; httpPort: number }> {
  const httpPort = await freePort();
  const cams = Array.from({ length: n }, (_, i) => `  cam${i}:\n    url: rtsp://127.0.0.1:${rtspPort}/cam${i}\n    transport: tcp\n`).join('');
  const cfg = path.join(WORK, `camgate-${n}.yaml`);
  writeFileSync(cfg, `server:\n  http: "127.0.0.1:${httpPort}"\n  rtsp: "127.0.0.1:${await freePort()}"\ncameras:\n${n ? cams : '  {}\n'}`.replace('cameras:\n  {}\n', 'cameras: {}\n'));
  const child = spawn(process.execPath, [...NODE_FLAGS, path.join(ROOT, 'bin/camgate.js'), 'serve', '--config', cfg], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  return { child, httpPort };
}

async function waitStreaming(httpPort: number, n: number, timeoutMs = 30000): Promise<{ bitrateKbps: number }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/api/cameras`);
      const list = (await r.json()) as { state: string; quality: { bitrateKbps: number } }[];
      const streaming = list.filter((c) => c.state === 'streaming');
      if (streaming.length === n) return { bitrateKbps: streaming.reduce((a, c) => a + c.quality.bitrateKbps, 0) / Math.max(1, n) };
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`not all ${n} cameras streaming after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const file = fourMbitSource();
  const replayer = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/lib/replayer.ts'), '0', file, '25'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: ROOT,
  });
  const rtspPort = Number((await waitLine(replayer, /READY (\d+)/))[1]);
  const rows: string[] = [];
  try {
    // Baseline: camgate with no camera, for the RSS per camera.
    const base = await startCamgate(0, rtspPort);
    await waitStreaming(base.httpPort, 0);
    await new Promise((r) => setTimeout(r, 1000));
    const baseRss = rssKb(base.child.pid!) / 1024;
    await kill([base.child]);
    process.stdout.write(`camgate idle RSS: ${baseRss.toFixed(1)} MB\n`);

    for (const n of NS) {
      const g = await startCamgate(n, rtspPort);
      await waitStreaming(g.httpPort, n);
      // Steady state: let the JIT and the heap settle before measuring (startup compiles ~100 modules).
      await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
      const cg = await measure([g.child.pid!], SAMPLE_S);
      const { bitrateKbps } = await waitStreaming(g.httpPort, n).catch(() => ({ bitrateKbps: 0 }));
      await kill([g.child]);

      const outDir = path.join(WORK, 'hls');
      rmSync(outDir, { recursive: true, force: true });
      const ff: ChildProcess[] = [];
      for (let i = 0; i < n; i++) {
        mkdirSync(path.join(outDir, `cam${i}`), { recursive: true });
        ff.push(
          spawn('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', `rtsp://127.0.0.1:${rtspPort}/cam${i}`,
            '-c', 'copy', '-f', 'hls', '-hls_time', '2', '-hls_list_size', '5', '-hls_flags', 'delete_segments', path.join(outDir, `cam${i}`, 'index.m3u8')],
          { stdio: 'ignore' }),
        );
      }
      await new Promise((r) => setTimeout(r, 5000));
      const alive = ff.filter((c) => c.exitCode === null).length;
      const fm = await measure(ff.map((c) => c.pid!), SAMPLE_S);
      await kill(ff);

      const cgPer = cg.cpuPercent / n;
      const ffPer = fm.cpuPercent / n;
      const rssPer = (cg.rssMb - baseRss) / n;
      const line = `N=${n}: camgate ${cg.cpuPercent.toFixed(1)}% CPU (${cgPer.toFixed(3)}%/camera), RSS ${cg.rssMb.toFixed(1)} MB (${rssPer.toFixed(2)} MB/camera over idle), ingest ${(bitrateKbps / 1000).toFixed(2)} Mbit/s/camera | ffmpeg x${alive}: ${fm.cpuPercent.toFixed(1)}% CPU (${ffPer.toFixed(3)}%/camera), RSS ${(fm.rssMb / n).toFixed(1)} MB/camera | CPU ratio camgate/ffmpeg ${(cgPer / ffPer).toFixed(2)}`;
      rows.push(line);
      process.stdout.write(`${line}\n`);
    }
  } finally {
    await kill([replayer]);
  }
  process.stdout.write(`\n| cameras | camgate CPU %/camera | camgate RSS MB/camera | ffmpeg CPU %/camera | ratio |\n|---|---|---|---|---|\n`);
  for (const r of rows) {
    const m = r.match(/N=(\d+).*?\(([\d.]+)%\/camera\).*?\(([-\d.]+) MB\/camera over idle\).*?ffmpeg x\d+: [\d.]+% CPU \(([\d.]+)%\/camera\).*ratio camgate\/ffmpeg ([\d.]+)/);
    if (m) process.stdout.write(`| ${m[1]} | ${m[2]} | ${m[3]} | ${m[4]} | ${m[5]} |\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench:ingest failed: ${(e as Error).message}\n`);
  process.exit(1);
});
