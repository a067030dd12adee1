/**
 * AAC → Opus for WebRTC viewers of a camera with `audio: transcode`: one ffmpeg per stream (shared by
 * every viewer of that stream), fed ADTS on stdin, sending Opus over RTP to a loopback UDP socket.
 * Only the audio track is transcoded; video never passes through ffmpeg. ADTS headers carry the whole
 * configuration, so ffmpeg is told not to probe (its default probing held the first Opus back ~2 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import type { Stream } from '../stream/stream.ts';
import type { AccessUnit } from '../stream/types.ts';
import type { Logger } from '../camera/camera.ts';
import { buildAdtsHeader, parseAudioSpecificConfig } from '../codecs/aac/index.ts';
import { parseRtpPacket } from '../rtp/packet.ts';
import { findFfmpeg } from '../util/ffmpeg.ts';
import { TRANSCODED_TRACK_OFFSET } from './fanout.ts';

/** Unwritten ADTS bytes beyond this are dropped (ffmpeg stalled): memory stays bounded. */
const MAX_STDIN_BACKLOG = 256 * 1024;

export class AacToOpus {
  onUnit?: (au: AccessUnit) => void;
  private child?: ChildProcess;
  private sock?: dgram.Socket;
  private closed = false;
  private epoch = 0;
  private track = -1;
  /** Wall clock of the latest AAC frame: Opus frames inherit it (ffmpeg adds ~one frame of delay). */
  private lastWallclock = Date.now();
  private firstTs: number | undefined;

  constructor(
    private readonly stream: Stream,
    private readonly log: Logger,
  ) {
    void this.start();
  }

  private async start(): Promise<void> {
    const ffmpeg = findFfmpeg();
    if (!ffmpeg) return;
    const sock = dgram.createSocket('udp4');
    this.sock = sock;
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    if (this.closed) {
      sock.close();
      return;
    }
    sock.on('message', (msg) => this.onRtp(msg));
    const port = sock.address().port;
    const child = spawn(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-fflags', 'nobuffer', '-probesize', '32', '-analyzeduration', '0', '-f', 'aac', '-i', 'pipe:0', '-vn', '-c:a', 'libopus', '-application', 'lowdelay', '-frame_duration', '20', '-b:a', '64k', '-ar', '48000', '-ac', '2', '-f', 'rtp', '-payload_type', '111', `rtp://127.0.0.1:${port}?pkt_size=1200`], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    child.stdin!.on('error', () => undefined);
    child.stderr!.on('data', (d: Buffer) => this.log.debug({ stream: this.stream.name, ffmpeg: d.toString().trim().slice(0, 200) }, 'webrtc audio transcode'));
    child.on('exit', (code) => {
      if (!this.closed) this.log.warn({ stream: this.stream.name, code }, 'webrtc: AAC→Opus ffmpeg exited');
    });
  }

  push(au: AccessUnit): void {
    const child = this.child;
    if (!child || this.closed || !child.stdin?.writable) return;
    const t = this.stream.tracks[au.track];
    const ascBuf = t?.params.audioSpecificConfig;
    if (!ascBuf) return;
    const asc = parseAudioSpecificConfig(ascBuf);
    if (!asc.ok) return;
    this.track = au.track;
    this.epoch = au.epoch;
    this.lastWallclock = au.wallclock;
    if (child.stdin.writableLength > MAX_STDIN_BACKLOG) return;
    for (const frame of au.data) child.stdin.write(Buffer.concat([buildAdtsHeader(asc.value, frame.length), frame]));
  }

  private onRtp(msg: Buffer): void {
    const r = parseRtpPacket(msg);
    if (!r.ok || this.track < 0) return;
    const pkt = r.value;
    this.firstTs ??= pkt.timestamp;
    const pts = (pkt.timestamp - this.firstTs) >>> 0;
    this.onUnit?.({ track: TRANSCODED_TRACK_OFFSET + this.track, codec: 'OPUS', pts, dts: pts, clockRate: 48000, wallclock: this.lastWallclock, keyframe: true, data: [Buffer.from(pkt.payload)], epoch: this.epoch });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.child?.stdin?.end();
    this.child?.kill('SIGKILL');
    this.sock?.close();
  }
}
