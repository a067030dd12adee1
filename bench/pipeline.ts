/**
 * npm run bench:pipeline
 *
 * The ingest hot path without sockets: interleaved TCP bytes → RtspDemuxer → RtpReceiver →
 * H264Depacketizer → Stream (GOP cache + one consumer), on a 4 Mbit/s 720p H.264 stream.
 * Prints the CPU cost per RTP packet and what one 4 Mbit/s camera costs on one core.
 */
import { fourMbitAccessUnits } from './lib/source.ts';
import { H264Packetizer } from '../src/codecs/h264/index.ts';
import { H264Depacketizer } from '../src/codecs/h264/index.ts';
import { RtspDemuxer, encodeInterleaved } from '../src/rtsp/message.ts';
import { RtpReceiver } from '../src/rtp/receiver.ts';
import { Stream } from '../src/stream/stream.ts';
import { QualityMeter } from '../src/camera/quality.ts';

const aus = fourMbitAccessUnits();
const seconds = aus.length / 25;

// RTP over TCP interleaved, in 64 KiB reads as a socket would deliver them.
const pk = new H264Packetizer({ payloadType: 96, ssrc: 0x1234, mtu: 1400 });
const frames: Buffer[] = [];
let bytes = 0;
aus.forEach((au, i) => {
  for (const p of pk.packetize(au, i * 3600)) {
    frames.push(encodeInterleaved(0, p));
    bytes += p.length;
  }
});
const wire = Buffer.concat(frames);
const chunks: Buffer[] = [];
for (let o = 0; o < wire.length; o += 65536) chunks.push(wire.subarray(o, o + 65536));
const packetsPerSecond = frames.length / seconds;
const mbit = (bytes * 8) / seconds / 1e6;

function run(): { packets: number; frames: number } {
  const demux = new RtspDemuxer();
  const rx = new RtpReceiver({ clockRate: 90000, reorder: false });
  const dep = new H264Depacketizer({ clockRate: 90000, fmtp: {} });
  const stream = new Stream('bench');
  const meter = new QualityMeter();
  stream.start([{ id: 0, kind: 'video', codec: 'H264', clockRate: 90000, params: {} }]);
  const consumer = stream.subscribe();
  let packets = 0;
  let out = 0;
  for (const c of chunks) {
    for (const ev of demux.push(Buffer.from(c))) {
      if (ev.type !== 'interleaved') continue;
      for (const p of rx.pushRtp(ev.payload)) {
        packets++;
        const fs = dep.push({ payloadType: p.packet.payloadType, sequenceNumber: p.packet.sequenceNumber, timestamp: p.extTimestamp, marker: p.packet.marker, payload: p.packet.payload }, p.lostBefore > 0);
        for (const f of fs) {
          const au = { track: 0, codec: 'H264' as const, pts: f.timestamp, dts: f.timestamp, clockRate: 90000, wallclock: rx.wallclock(f.timestamp), keyframe: f.keyframe, data: f.data, epoch: 1 };
          meter.add(au);
          stream.publish(au);
          while (consumer.tryNext()) out++;
        }
      }
    }
  }
  return { packets, frames: out };
}

// Check once that what comes out is what went in.
const check = run();
if (check.frames !== aus.length) throw new Error(`expected ${aus.length} frames, got ${check.frames}`);

for (let i = 0; i < 3; i++) run(); // warm up the JIT
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const t0 = process.cpuUsage();
const w0 = performance.now();
let packets = 0;
for (let i = 0; i < ROUNDS; i++) packets += run().packets;
const cpu = process.cpuUsage(t0);
const wall = performance.now() - w0;
const nsPerPacket = ((cpu.user + cpu.system) * 1000) / packets;
const perCamera = (nsPerPacket * packetsPerSecond) / 1e9;
process.stdout.write(
  `source: ${aus.length} frames, ${frames.length} RTP packets, ${mbit.toFixed(2)} Mbit/s, ${packetsPerSecond.toFixed(0)} packets/s\n` +
    `pipeline: ${nsPerPacket.toFixed(0)} ns CPU per packet (${((packets * 1e3) / wall / 1e3).toFixed(0)} k packets/s wall)\n` +
    `one 4 Mbit/s camera: ${(perCamera * 100).toFixed(3)} % of a core; one core ingests ~${Math.floor(1 / perCamera)} such cameras\n`,
);
