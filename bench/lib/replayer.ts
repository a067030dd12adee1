/**
 * A lightweight RTSP "camera farm" for benchmarks: serves /cam0 … /camN-1, each replaying the same
 * pre-packetized H.264 RTP over TCP interleaved in real time. Packets are built once; per session only
 * the sequence number and timestamp are patched, so the camera side costs little CPU.
 *
 * Run as a child process: `node --import tsx bench/lib/replayer.ts <port> <file.h264> <fps>`.
 * Prints `READY <port>` when listening.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';

const [portArg, file, fpsArg] = process.argv.slice(2);
const fps = Number(fpsArg ?? 25);
const MTU = 1400;

function splitAnnexB(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  let start = -1;
  while (i + 3 <= buf.length) {
    if (buf[i] === 0 && buf[i + 1] === 0 && (buf[i + 2] === 1 || (buf[i + 2] === 0 && buf[i + 3] === 1))) {
      if (start >= 0) out.push(buf.subarray(start, i));
      i += buf[i + 2] === 1 ? 3 : 4;
      start = i;
    } else i++;
  }
  if (start >= 0) out.push(buf.subarray(start));
  return out.map((n) => {
    let e = n.length;
    while (e > 0 && n[e - 1] === 0) e--;
    return n.subarray(0, e);
  });
}

// Group NAL units into access units (a new AU starts at an AUD, SPS, or a first slice after a slice).
const nalus = splitAnnexB(readFileSync(file!));
const aus: Buffer[][] = [];
let cur: Buffer[] = [];
let curHasSlice = false;
for (const n of nalus) {
  const t = n[0]! & 0x1f;
  const isSlice = t === 1 || t === 5;
  const firstMb = isSlice && (n[1]! & 0x80) !== 0;
  if ((t === 9 || t === 7 || (isSlice && firstMb)) && curHasSlice) {
    aus.push(cur);
    cur = [];
    curHasSlice = false;
  }
  if (t === 9) continue;
  cur.push(n);
  if (isSlice) curHasSlice = true;
}
if (cur.length) aus.push(cur);
const sps = nalus.find((n) => (n[0]! & 0x1f) === 7)!;
const pps = nalus.find((n) => (n[0]! & 0x1f) === 8)!;

/** RTP payloads (no header) per access unit, and whether each is the last of its AU. */
const frames: { payloads: Buffer[] }[] = aus.map((au) => {
  const payloads: Buffer[] = [];
  for (const n of au) {
    if (n.length <= MTU) {
      payloads.push(n);
      continue;
    }
    const hdr = n[0]!;
    let off = 1;
    while (off < n.length) {
      const len = Math.min(MTU - 2, n.length - off);
      const s = off === 1 ? 0x80 : 0;
      const e = off + len >= n.length ? 0x40 : 0;
      payloads.push(Buffer.concat([Buffer.from([(hdr & 0xe0) | 28, s | e | (hdr & 0x1f)]), n.subarray(off, off + len)]));
      off += len;
    }
  }
  return { payloads };
});

/** Each frame pre-serialized as interleaved RTP on channel 0, with seq/ts to patch at fixed offsets. */
const wire = frames.map((f) => {
  const parts: Buffer[] = [];
  const seqOffsets: number[] = [];
  let pos = 0;
  f.payloads.forEach((p, i) => {
    const h = Buffer.alloc(16);
    h[0] = 0x24;
    h[1] = 0;
    h.writeUInt16BE(12 + p.length, 2);
    h[4] = 0x80;
    h[5] = (i === f.payloads.length - 1 ? 0x80 : 0) | 96;
    seqOffsets.push(pos + 6);
    parts.push(h, p);
    pos += 16 + p.length;
  });
  return { buf: Buffer.concat(parts), seqOffsets };
});

const b64 = (b: Buffer) => b.toString('base64');
const plid = sps.subarray(1, 4).toString('hex');
const sdp = (host: string) =>
  [
    'v=0',
    `o=- 0 0 IN IP4 ${host}`,
    's=camgate bench',
    't=0 0',
    'm=video 0 RTP/AVP 96',
    'c=IN IP4 0.0.0.0',
    'a=rtpmap:96 H264/90000',
    `a=fmtp:96 packetization-mode=1;profile-level-id=${plid};sprop-parameter-sets=${b64(sps)},${b64(pps)}`,
    'a=control:trackID=0',
    '',
  ].join('\r\n');

interface Session {
  sock: net.Socket;
  seq: number;
  ts: number;
  ssrc: number;
  frame: number;
}
const playing = new Set<Session>();

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  let buf = '';
  let session: Session | undefined;
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      const lines = head.split('\r\n');
      const [method, uri] = lines[0]!.split(' ');
      const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const cseq = headers.get('cseq') ?? '0';
      const reply = (extra: string[], body = '') =>
        sock.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n${extra.map((e) => `${e}\r\n`).join('')}${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`);
      switch (method) {
        case 'OPTIONS':
          reply(['Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER']);
          break;
        case 'DESCRIBE':
          reply(['Content-Type: application/sdp', `Content-Base: ${uri!.replace(/\/?$/, '/')}`], sdp('127.0.0.1'));
          break;
        case 'SETUP':
          session = { sock, seq: Math.floor(Math.random() * 65535), ts: Math.floor(Math.random() * 2 ** 31), ssrc: Math.floor(Math.random() * 2 ** 31), frame: 0 };
          reply([`Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=${session.ssrc.toString(16).toUpperCase()}`, 'Session: 12345678;timeout=60']);
          break;
        case 'PLAY':
          reply(['Session: 12345678', 'Range: npt=0.000-']);
          if (session) playing.add(session);
          break;
        case 'TEARDOWN':
          reply([]);
          if (session) playing.delete(session);
          sock.end();
          break;
        default:
          reply([]);
      }
    }
  });
  const drop = () => {
    if (session) playing.delete(session);
  };
  sock.on('close', drop);
  sock.on('error', drop);
});

// Real-time pacing: every frame interval, write the next frame to every playing session.
const frameMs = 1000 / fps;
const tsStep = Math.round(90000 / fps);
const t0 = performance.now();
let sent = 0;
setInterval(() => {
  const due = Math.floor((performance.now() - t0) / frameMs);
  while (sent < due) {
    sent++;
    for (const s of playing) {
      const w = wire[s.frame % wire.length]!;
      const out = Buffer.from(w.buf);
      for (const off of w.seqOffsets) {
        out.writeUInt16BE(s.seq & 0xffff, off);
        out.writeUInt32BE(s.ts >>> 0, off + 2);
        out.writeUInt32BE(s.ssrc >>> 0, off + 6);
        s.seq++;
      }
      s.ts += tsStep;
      s.frame++;
      if (s.sock.writableLength < 8 * 1024 * 1024) s.sock.write(out);
    }
  }
}, 5);

server.listen(Number(portArg ?? 0), '127.0.0.1', () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(`READY ${a.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
