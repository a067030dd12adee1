// Independent decode checks with ffprobe: what camgate produces must be decodable by FFmpeg.
import { spawn } from 'node:child_process';

export interface ElementaryProbe {
  /** frames ffprobe decoded (nb_read_frames of the first stream); 0 when nothing decodable */
  frames: number;
  width?: number;
  height?: number;
  codec?: string;
  sampleRate?: number;
  channels?: number;
  /** ffprobe's stderr when it exited non-zero or printed nothing parseable */
  error?: string;
}

export interface ProbedStream {
  index?: number;
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  nb_read_frames?: string;
  [key: string]: unknown;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const MAX_OUTPUT = 4 * 1024 * 1024;

function runFfprobe(args: string[], input: Buffer | null, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn('ffprobe', args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-20_000);
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(e), timedOut });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
    if (input && child.stdin) {
      // ffprobe may stop reading early (bad data): EPIPE is expected then, not an error.
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    }
  });
}

function parseStreams(stdout: string): ProbedStream[] | null {
  try {
    const j = JSON.parse(stdout) as { streams?: ProbedStream[] };
    return Array.isArray(j.streams) ? j.streams : null;
  } catch {
    return null;
  }
}

const DEMUXER: Record<'h264' | 'hevc' | 'mjpeg' | 'aac' | 'alaw' | 'mulaw', string[]> = {
  h264: ['-f', 'h264'],
  hevc: ['-f', 'hevc'],
  mjpeg: ['-f', 'mjpeg'],
  aac: ['-f', 'aac'], // ADTS
  // Raw G.711 carries no header: default to the RTP static payload's 8 kHz mono (RFC 3551 §4.5.14).
  alaw: ['-f', 'alaw', '-sample_rate', '8000', '-ch_layout', 'mono'],
  mulaw: ['-f', 'mulaw', '-sample_rate', '8000', '-ch_layout', 'mono'],
};

/**
 * Pipe an Annex-B elementary stream (H.264/H.265), concatenated JPEG frames, ADTS AAC or raw G.711
 * into ffprobe and count decoded frames. `extraArgs` go before `-i` (e.g. ['-sample_rate', '16000']).
 * Never rejects for bad data: returns frames 0 and `error` instead.
 */
export async function probeElementary(
  data: Buffer,
  format: 'h264' | 'hevc' | 'mjpeg' | 'aac' | 'alaw' | 'mulaw',
  extraArgs: string[] = [],
): Promise<ElementaryProbe> {
  const args = [
    '-v', 'error',
    ...DEMUXER[format],
    ...extraArgs,
    '-i', 'pipe:0',
    '-count_frames',
    '-show_entries', 'stream=codec_name,width,height,sample_rate,channels,nb_read_frames',
    '-of', 'json',
  ];
  const r = await runFfprobe(args, data, 60_000);
  const streams = parseStreams(r.stdout);
  const s = streams?.[0];
  if (!s) return { frames: 0, error: r.stderr || `ffprobe exit ${r.code}` };
  const out: ElementaryProbe = { frames: Number(s.nb_read_frames ?? 0) || 0 };
  if (s.codec_name) out.codec = s.codec_name;
  if (typeof s.width === 'number') out.width = s.width;
  if (typeof s.height === 'number') out.height = s.height;
  if (s.sample_rate !== undefined) out.sampleRate = Number(s.sample_rate);
  if (typeof s.channels === 'number') out.channels = s.channels;
  if (r.code !== 0) out.error = r.stderr;
  return out;
}

/**
 * ffprobe an RTSP/HLS URL: codecs and resolution per stream. Rejects (with ffprobe's stderr) when
 * ffprobe fails, e.g. 401 or connection refused. With `countFrames` on a live RTSP source and no
 * `readIntervals`, only the first 3 s are read ('%+3') so the probe terminates.
 */
export async function probeUrl(
  url: string,
  opts: { rtspTransport?: 'tcp' | 'udp'; timeoutMs?: number; countFrames?: boolean; readIntervals?: string } = {},
): Promise<{ streams: ProbedStream[] }> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const isRtsp = /^rtsps?:/i.test(url);
  const args = ['-v', 'error'];
  if (isRtsp) {
    if (opts.rtspTransport) args.push('-rtsp_transport', opts.rtspTransport);
    // Socket I/O timeout in microseconds, so a silent server fails the probe instead of hanging it.
    args.push('-timeout', String(Math.max(1, Math.floor(timeoutMs / 2)) * 1000));
  } else {
    args.push('-rw_timeout', String(Math.max(1, Math.floor(timeoutMs / 2)) * 1000));
  }
  const intervals = opts.readIntervals ?? (opts.countFrames && isRtsp ? '%+3' : undefined);
  if (intervals) args.push('-read_intervals', intervals);
  if (opts.countFrames) args.push('-count_frames');
  args.push('-show_streams', '-of', 'json', url);
  const r = await runFfprobe(args, null, timeoutMs);
  if (r.timedOut) throw new Error(`ffprobe ${url}: timed out after ${timeoutMs} ms\n${r.stderr}`);
  const streams = parseStreams(r.stdout);
  if (r.code !== 0 || !streams) throw new Error(`ffprobe ${url}: exit ${r.code}\n${r.stderr}`);
  return { streams };
}
