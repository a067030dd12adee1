/**
 * WHEP viewers made of werift RTCPeerConnections, run as a child process:
 *   node --import tsx test/interop/whep-werift-client.ts <whep url> <count> [--light] [--stagger ms]
 * Prints one JSON line of stats a second: {connected, packets, lost, failed, posted}.
 *
 * --light: the viewer does ICE and DTLS (and answers consent checks) through werift, but counts
 * media on the raw SRTP datagrams instead of decrypting them: the RTP header (sequence number,
 * SSRC) is in the clear in SRTP (RFC 3711 §3.1). That makes a receiver ~10× cheaper than a
 * decrypting werift receiver, so 100 of them on this 2-core machine measure the gateway, not
 * themselves. Loss = sequence-number gaps per SSRC (no NACK is sent, so nothing is repaired).
 *
 * Used by test/interop/whep-expiry.test.ts (a viewer killed without DELETE) and bench/whep.ts.
 */
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';

/**
 * Every viewer's UDP socket gets a 4 MiB receive buffer (the kernel's usual rmem_max) instead of the
 * 208 KiB default. One process drains all the viewers' sockets here, and when the 2-core machine
 * descheduled it the default buffers overflowed (kernel RcvbufErrors, with 0 send errors at the
 * gateway): the loss was the test rig's, where a browser per viewer would have kept up.
 */
const RCVBUF = 4 * 1024 * 1024;
const createSocket = dgram.createSocket;
dgram.createSocket = ((type: dgram.SocketType | dgram.SocketOptions, listener?: (msg: Buffer, rinfo: dgram.RemoteInfo) => void) =>
  createSocket(typeof type === 'string' ? { type, recvBufferSize: RCVBUF } : { recvBufferSize: RCVBUF, ...type }, listener)) as typeof dgram.createSocket;
syncBuiltinESMExports();
// werift is loaded after the patch, so its sockets are made by it.
const { RTCDtlsTransport, RTCPeerConnection, RTCRtpCodecParameters, SrtpAuthenticationError } = await import('werift');
type RTCPeerConnection = InstanceType<typeof RTCPeerConnection>;
const { SRTP_PROFILES } = await import('../../src/webrtc/peer.ts');

const url = process.argv[2]!;
const count = Number(process.argv[3] ?? '1');
const light = process.argv.includes('--light');
const si = process.argv.indexOf('--stagger');
const staggerMs = si > 0 ? Number(process.argv[si + 1]) : 0;

const t0 = Date.now();
const stats = { connected: 0, packets: 0, lost: 0, failed: 0, posted: 0 };
const lastSeq = new Map<number, number>();

function countRaw(buf: Buffer): void {
  if (buf.length >= 12) countSeq(buf.readUInt16BE(2), buf.readUInt32BE(8));
}

function countSeq(seq: number, ssrc: number): void {
  stats.packets++;
  const last = lastSeq.get(ssrc);
  if (last !== undefined) {
    const gap = (seq - last - 1 + 0x10000) & 0xffff;
    // Reordered or duplicated packets show up as a huge gap: ignore those rather than count them.
    if (gap < 0x8000) stats.lost += gap;
    else return;
  }
  lastSeq.set(ssrc, seq);
}

if (light) {
  // One preallocated error: werift's receive path catches SrtpAuthenticationError and drops the
  // packet, so nothing past our counter runs (no RTP parse, no receiver, no jitter buffer).
  const drop = new SrtpAuthenticationError('counted, not decrypted');
  const proto = RTCDtlsTransport.prototype as unknown as { startSrtp(this: { srtp: { decrypt(b: Buffer): Buffer } }): void };
  const orig = proto.startSrtp;
  proto.startSrtp = function (this: { srtp: { decrypt(b: Buffer): Buffer } }) {
    orig.call(this);
    this.srtp.decrypt = (b: Buffer) => {
      countRaw(b);
      throw drop;
    };
  };
}

async function viewer(): Promise<RTCPeerConnection | undefined> {
  const pc = new RTCPeerConnection({
    iceServers: [],
    codecs: {
      video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }], parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f' })],
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    },
  });
  const vt = pc.addTransceiver('video', { direction: 'recvonly' });
  const at = pc.addTransceiver('audio', { direction: 'recvonly' });
  if (!light) {
    for (const t of [vt, at]) t.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => countSeq(rtp.header.sequenceNumber, rtp.header.ssrc)));
  }
  let counted = false;
  pc.connectionStateChange.subscribe((s) => {
    if (s === 'connected' && !counted) {
      counted = true;
      stats.connected++;
      process.stdout.write(JSON.stringify({ event: 'connected', ...stats }) + '\n');
    }
    if (s === 'failed') {
      stats.failed++;
      // WHEP_CLIENT_DEBUG=1: when each failure happened, and whether the viewer had connected first.
      if (process.env.WHEP_CLIENT_DEBUG) {
        const d = pc.dtlsTransports[0] as unknown as { state: string; role: string; iceTransport: { state: string } } | undefined;
        process.stderr.write(`viewer failed ${Date.now() - t0} ms after start, ${counted ? 'after' : 'before'} connecting (ICE ${pc.iceConnectionState}, ICE transport ${d?.iceTransport.state}, DTLS ${d?.state} as ${d?.role})\n`);
      }
    }
  });
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
  if (r.status !== 201) {
    stats.failed++;
    process.stderr.write(`POST ${r.status}: ${await r.text()}\n`);
    await pc.close();
    return undefined;
  }
  stats.posted++;
  // As DTLS server werift would pick its own favourite SRTP profile (AEAD GCM); a browser takes the
  // gateway's order (AES-CM first, see src/webrtc/peer.ts SRTP_PROFILES), so these viewers do too.
  for (const d of pc.dtlsTransports) (d as unknown as { srtpProfiles: number[] }).srtpProfiles = [...SRTP_PROFILES];
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  return pc;
}

const pcs: (RTCPeerConnection | undefined)[] = [];
const tasks: Promise<void>[] = [];
for (let i = 0; i < count; i++) {
  tasks.push(viewer().then((pc) => void pcs.push(pc)).catch((e: Error) => {
    stats.failed++;
    process.stderr.write(`viewer: ${e.message}\n`);
  }));
  if (staggerMs) await new Promise((r) => setTimeout(r, staggerMs));
}
await Promise.all(tasks);
setInterval(() => process.stdout.write(JSON.stringify(stats) + '\n'), 1000);
process.on('SIGTERM', () => {
  for (const pc of pcs) void pc?.close();
  setTimeout(() => process.exit(0), 200);
});
