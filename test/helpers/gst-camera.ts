// Spawns test/helpers/gst-rtsp-camera.py: a real GStreamer RTSP server standing in for an IP camera.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { SYSTEM_PYTHON } from './tools.ts';

export interface GstMount {
  /** mount path, e.g. '/cam' */
  path: string;
  spec: 'h264' | 'h264+aac' | 'h264+pcmu' | 'h264+opus' | 'h265' | 'h265+pcma' | 'mjpeg' | string;
}

export interface GstCameraOptions {
  mounts: GstMount[];
  width?: number;
  height?: number;
  fps?: number;
  /** key frame interval in frames */
  gop?: number;
  /** 'digest-sha256' is not implemented by GstRtspServer 1.22: startGstCamera rejects; use the QuirkServer. */
  auth?: { method: 'basic' | 'digest' | 'digest-sha256'; user: string; password: string };
  protocols?: ('tcp' | 'udp' | 'udp-mcast')[];
  /** default: a free port picked here */
  port?: number;
  /**
   * Video frames carry their capture wall clock (Unix ms) as 48 black/white blocks in a band at the
   * top (see test/helpers/gst-rtsp-camera.py `--stamp`; decoder: test/helpers/stamp.ts). Replaces the
   * moving-ball picture with a plain one.
   */
  stamp?: boolean;
}

export interface GstCamera {
  port: number;
  url(path: string, creds?: { user: string; password: string }): string;
  /** kill the process (SIGKILL when `hard`) and wait for exit */
  stop(hard?: boolean): Promise<void>;
  /** start again on the same port */
  start(): Promise<void>;
  /** stdout/stderr lines of the server process (most recent LOG_LINES) */
  readonly log: string[];
}

export const CAMERA_SCRIPT = fileURLToPath(new URL('./gst-rtsp-camera.py', import.meta.url));
const READY_TIMEOUT_MS = 20_000;
const LOG_LINES = 2000;
const HOST = '127.0.0.1';

// Children still alive when the test worker exits are killed so no camera outlives its suite.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function buildArgs(opts: GstCameraOptions, port: number): string[] {
  const args = [CAMERA_SCRIPT, '--port', String(port), '--bind', HOST];
  for (const m of opts.mounts) {
    const p = m.path.startsWith('/') ? m.path : `/${m.path}`;
    args.push('--mount', `${p}=${m.spec}`);
  }
  if (opts.width !== undefined) args.push('--width', String(opts.width));
  if (opts.height !== undefined) args.push('--height', String(opts.height));
  if (opts.fps !== undefined) args.push('--fps', String(opts.fps));
  if (opts.gop !== undefined) args.push('--gop', String(opts.gop));
  if (opts.auth) args.push('--auth', opts.auth.method, '--user', opts.auth.user, '--password', opts.auth.password);
  if (opts.protocols?.length) args.push('--protocols', opts.protocols.join(','));
  if (opts.stamp) args.push('--stamp');
  return args;
}

class GstCameraProcess implements GstCamera {
  readonly log: string[] = [];
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly opts: GstCameraOptions,
    public port: number,
  ) {}

  url(path: string, creds?: { user: string; password: string }): string {
    const p = path.startsWith('/') ? path : `/${path}`;
    const auth = creds ? `${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.password)}@` : '';
    return `rtsp://${auth}${HOST}:${this.port}${p}`;
  }

  private pushLog(line: string): void {
    this.log.push(line);
    if (this.log.length > LOG_LINES) this.log.splice(0, this.log.length - LOG_LINES);
  }

  start(): Promise<void> {
    if (this.child) return Promise.reject(new Error('gst camera already running'));
    const child = spawn(SYSTEM_PYTHON, buildArgs(this.opts, this.port), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    let stderr = '';
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        live.delete(child);
        if (this.child === child) this.child = null;
        resolve();
      });
    });

    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (e?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e);
        else resolve();
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        settle(new Error(`gst camera not READY after ${READY_TIMEOUT_MS} ms; stderr:\n${stderr}`));
      }, READY_TIMEOUT_MS);

      const lineReader = (stream: NodeJS.ReadableStream, isStdout: boolean) => {
        let pending = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          if (!isStdout) stderr = (stderr + chunk).slice(-20_000);
          pending += chunk;
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl).replace(/\r$/, '');
            pending = pending.slice(nl + 1);
            this.pushLog(line);
            const m = isStdout ? /^READY (\d+)$/.exec(line) : null;
            if (m) {
              this.port = Number(m[1]);
              settle();
            }
          }
        });
      };
      lineReader(child.stdout!, true);
      lineReader(child.stderr!, false);
      child.once('error', (e) => settle(new Error(`cannot spawn ${SYSTEM_PYTHON}: ${e.message}`)));
      child.once('exit', (code, signal) =>
        settle(new Error(`gst camera exited (code ${code}, signal ${signal}) before READY; stderr:\n${stderr}`)),
      );
    });
  }

  async stop(hard = false): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(hard ? 'SIGKILL' : 'SIGTERM');
    // A wedged pipeline must not hang the suite: escalate after 5 s.
    const escalate = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(escalate);
  }
}

/** Start a GStreamer RTSP camera; resolves after it prints READY, rejects with its stderr otherwise. */
export async function startGstCamera(opts: GstCameraOptions): Promise<GstCamera> {
  if (opts.mounts.length === 0) throw new Error('startGstCamera: at least one mount is required');
  if (opts.port !== undefined) {
    const cam = new GstCameraProcess(opts, opts.port);
    await cam.start();
    return cam;
  }
  // The port picked here may be taken by someone else before python binds it; retry with a new one.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const cam = new GstCameraProcess(opts, await freePort('tcp'));
    try {
      await cam.start();
      return cam;
    } catch (e) {
      lastError = e;
      if (!String(e).includes('cannot listen')) throw e;
    }
  }
  throw lastError;
}

/**
 * Independent GStreamer client: `gst-launch-1.0 -v rtspsrc … ! decodebin ! fakesink num-buffers=N` on
 * the video stream. `eos` is true when N decoded video buffers reached the sink (the pipeline's EOS):
 * judge success by it, not by `code`, because rtspsrc sometimes reports "Could not send message" while
 * tearing down after EOS (a PAUSE/TEARDOWN race with the server closing the connection). `width` and
 * `height` are the decoded caps at the sink.
 */
export async function rtspsrcRead(
  url: string,
  opts: { protocols?: 'tcp' | 'udp'; numBuffers?: number; user?: string; password?: string; timeoutMs?: number; latencyMs?: number; extraArgs?: string[] } = {},
): Promise<{ eos: boolean; code: number | null; stderr: string; out: string; width?: number; height?: number }> {
  const args = ['-v', 'rtspsrc', 'name=src', `location=${url}`, `protocols=${opts.protocols ?? 'tcp'}`, `latency=${opts.latencyMs ?? 0}`, ...(opts.extraArgs ?? [])];
  if (opts.user !== undefined) args.push(`user-id=${opts.user}`);
  if (opts.password !== undefined) args.push(`user-pw=${opts.password}`);
  // Only the video pad is linked (by caps); an audio pad stays unlinked, which rtspsrc tolerates.
  args.push('src.', '!', 'application/x-rtp,media=video', '!', 'decodebin', '!', 'fakesink', `num-buffers=${opts.numBuffers ?? 20}`);
  const once = () =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('gst-launch-1.0', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        stdout = (stdout + d).slice(-200_000);
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-20_000);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
      const done = (code: number | null, extra = '') => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr: stderr + extra });
      };
      child.once('error', (e) => done(-1, String(e)));
      child.once('close', (code) => done(code));
    });
  const eosOf = (r: { stdout: string }) => r.stdout.includes('Got EOS from element "pipeline0"');
  let r = await once();
  // gst-launch links the video pad only once rtspsrc has created it; a first audio buffer that comes
  // before that meets no linked pad and rtspsrc stops with "not-linked" (seen once in CI, a camgate
  // restream starting with its GOP burst, 22 ms in). The test pipeline's race, not the server's: again.
  if (!eosOf(r) && r.stdout.includes('reason not-linked')) r = await once();
  const m = /fakesink0\.GstPad:sink: caps = video\/x-raw.*?width=\(int\)(\d+), height=\(int\)(\d+)/.exec(r.stdout);
  return {
    eos: eosOf(r),
    code: r.code,
    stderr: r.stderr,
    out: r.stdout.slice(-2000) + r.stderr.slice(-2000),
    ...(m ? { width: Number(m[1]), height: Number(m[2]) } : {}),
  };
}
