/**
 * Shared by the WHEP tests and bench/whep.ts: a Gateway + the real fastify server on free ports, and
 * a headless-Chromium WHEP viewer that reports inbound-rtp stats.
 */
import pino from 'pino';
import type { Page } from 'playwright-core';
import { Gateway } from '../../../src/gateway.ts';
import { buildHttpServer } from '../../../src/http/server.ts';
import type { CameraConfig, Config, IceServer, UserConfig } from '../../../src/config/types.ts';
import type { WebRtcService, WebRtcServiceOptions } from '../../../src/webrtc/service.ts';

export const silent = { debug() {}, info() {}, warn() {}, error() {} };

export interface WhepServer {
  gateway: Gateway;
  service: WebRtcService;
  base: string;
  udp: { min: number; max: number };
  close(): Promise<void>;
}

export async function startWhepServer(o: {
  cameras: Partial<CameraConfig>[];
  users?: UserConfig[];
  additionalHosts?: string[];
  iceServers?: IceServer[];
  udpSpan?: number;
  webrtc?: WebRtcServiceOptions;
}): Promise<WhepServer> {
  const span = o.udpSpan ?? 200;
  const min = 20000 + Math.floor(Math.random() * 40000);
  const config: Config = {
    server: {
      http: { host: '127.0.0.1', port: 0 },
      rtsp: { host: '127.0.0.1', port: 0 },
      webrtc: { udpPorts: { min, max: min + span - 1 }, additionalHosts: o.additionalHosts ?? [], iceServers: o.iceServers ?? [] },
    },
    hls: { partDurationMs: 200, segmentDurationMs: 1000, segmentCount: 7, alwaysRemux: false },
    users: o.users ?? [],
    cameras: o.cameras.map((c) => ({ id: c.id!, name: c.id!, url: 'builtin:demo', transport: 'tcp', audio: 'auto', onDemand: false, enabled: true, tags: [], ...c })) as CameraConfig[],
  };
  const gateway = new Gateway(config, silent);
  gateway.start();
  let service!: WebRtcService;
  const app = await buildHttpServer({ gateway, logger: pino({ level: 'silent' }), webrtc: { webrtc: o.webrtc, onService: (s) => (service = s) } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    gateway,
    service,
    base: `http://127.0.0.1:${port}`,
    udp: { min, max: min + span - 1 },
    close: async () => {
      await app.close();
      await gateway.stop();
    },
  };
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface InboundSample {
  t: number;
  kind: string;
  framesDecoded?: number;
  keyFramesDecoded?: number;
  freezeCount?: number;
  totalFreezesDuration?: number;
  packetsReceived: number;
  packetsLost?: number;
  frameWidth?: number;
  frameHeight?: number;
  totalSamplesReceived?: number;
  codec?: string;
  nackCount?: number;
}

/**
 * Installs window.whep(url) in the page: getUserMedia once (this machine's Chromium needs it before
 * loopback ICE), recvonly video+audio offer, POST, answer. Returns the Location; window.whepStats()
 * returns inbound-rtp samples.
 */
/** Browser-side WHEP client (plain JS: this project compiles without the DOM lib). */
const CLIENT_JS = String.raw`
window.whep = async (url, opts = {}) => {
  if (!window.gumDone) {
    const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    s.getTracks().forEach((t) => t.stop());
    window.gumDone = true;
  }
  const pc = new RTCPeerConnection();
  const vt = pc.addTransceiver('video', { direction: 'recvonly' });
  if (opts.videoCodec) {
    vt.setCodecPreferences(RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => c.mimeType.toLowerCase() === opts.videoCodec.toLowerCase()));
  }
  if (opts.audio !== false) pc.addTransceiver('audio', { direction: 'recvonly' });
  const entry = { pc, t0: performance.now(), firstFrameAt: undefined, location: undefined };
  pc.ontrack = (e) => {
    if (e.track.kind === 'audio') {
      // Chromium decodes audio only when something plays it.
      const a = document.createElement('audio');
      a.autoplay = true;
      a.srcObject = new MediaStream([e.track]);
      document.body.appendChild(a);
      return;
    }
    if (e.track.kind !== 'video') return;
    const v = document.createElement('video');
    v.muted = true; v.autoplay = true; v.width = 160;
    v.srcObject = new MediaStream([e.track]);
    document.body.appendChild(v);
    entry.video = v;
    v.requestVideoFrameCallback(() => { entry.firstFrameAt ??= performance.now() - entry.t0; });
  };
  await pc.setLocalDescription(await pc.createOffer());
  if (!opts.trickle) {
    await new Promise((r) => {
      if (pc.iceGatheringState === 'complete') r();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
      setTimeout(r, 2000);
    });
  }
  const offerSdp = opts.trickle ? pc.localDescription.sdp.replace(/a=candidate:.*\r\n/g, '').replace(/a=end-of-candidates\r\n/g, '') : pc.localDescription.sdp;
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offerSdp });
  if (res.status !== 201) throw new Error('POST ' + res.status + ': ' + (await res.text()));
  entry.location = res.headers.get('Location');
  entry.etag = res.headers.get('ETag');
  entry.answer = await res.text();
  await pc.setRemoteDescription({ type: 'answer', sdp: entry.answer });
  if (opts.trickle) {
    // Trickle after the fact: every local candidate in one sdpfrag PATCH (RFC 8840).
    await new Promise((r) => {
      if (pc.iceGatheringState === 'complete') r();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
      setTimeout(r, 2000);
    });
    const cands = pc.localDescription.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
    const frag = 'a=mid:0\r\n' + cands.join('\r\n') + '\r\na=end-of-candidates\r\n';
    const pr = await fetch(entry.location, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': entry.etag }, body: frag });
    entry.trickleStatus = pr.status;
    entry.trickled = cands.length;
  }
  const list = (window.pcs ??= []);
  list.push(entry);
  return { index: list.length - 1, location: entry.location, etag: entry.etag, answer: entry.answer, offer: offerSdp, trickleStatus: entry.trickleStatus, trickled: entry.trickled };
};
window.whepRestart = async (i) => {
  const e = window.pcs[i];
  const pc = e.pc;
  pc.restartIce();
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    setTimeout(r, 2000);
  });
  const sdp = pc.localDescription.sdp;
  const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)[1], pwd = /a=ice-pwd:(\S+)/.exec(sdp)[1];
  const first = sdp.slice(sdp.indexOf('m='), sdp.indexOf('m=', sdp.indexOf('m=') + 2) > 0 ? sdp.indexOf('m=', sdp.indexOf('m=') + 2) : undefined);
  const cands = first.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
  const frag = 'a=ice-ufrag:' + ufrag + '\r\na=ice-pwd:' + pwd + '\r\na=mid:0\r\n' + cands.join('\r\n') + '\r\n';
  const res = await fetch(e.location, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': e.etag }, body: frag });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, text };
  const nu = /a=ice-ufrag:(\S+)/.exec(text)[1], np = /a=ice-pwd:(\S+)/.exec(text)[1];
  const nc = text.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
  let answer = e.answer.replace(/a=ice-ufrag:.*\r\n/g, 'a=ice-ufrag:' + nu + '\r\n').replace(/a=ice-pwd:.*\r\n/g, 'a=ice-pwd:' + np + '\r\n').replace(/a=candidate:.*\r\n/g, '').replace(/a=end-of-candidates\r\n/g, '');
  answer = answer.replace(/(a=mid:.*\r\n)/g, '$1' + nc.map((c) => c + '\r\n').join(''));
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  e.etag = res.headers.get('ETag');
  return { status: res.status, etag: e.etag, oldUfrag: /a=ice-ufrag:(\S+)/.exec(e.answer)[1], newUfrag: nu };
};
window.whepDelete = async (i) => {
  const e = window.pcs[i];
  const r = await fetch(e.location, { method: 'DELETE' });
  return r.status;
};
window.whepStats = async (i) => {
  const e = window.pcs[i];
  const rep = await e.pc.getStats();
  const codecs = new Map();
  rep.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s.mimeType); });
  const inbound = [];
  rep.forEach((s) => { if (s.type === 'inbound-rtp') inbound.push({ ...s, t: performance.now(), codec: codecs.get(s.codecId) }); });
  let srtpCipher;
  rep.forEach((s) => { if (s.type === 'transport') srtpCipher = s.srtpCipher; });
  return { inbound, firstFrameMs: e.firstFrameAt, state: e.pc.connectionState, srtpCipher };
};
`;

/**
 * Installs window.whep(url) in the page: getUserMedia once (this machine's Chromium needs it before
 * loopback ICE), recvonly video+audio offer, POST, answer. window.whepStats(i) returns inbound-rtp stats.
 */
export async function installWhepClient(page: Page): Promise<void> {
  await page.addScriptTag({ content: CLIENT_JS });
}

export interface WhepPlayResult {
  index: number;
  location: string;
  etag: string;
  answer: string;
  offer: string;
  trickleStatus?: number;
  trickled?: number;
}

export async function whepPlay(page: Page, url: string, opts: { audio?: boolean; videoCodec?: string; trickle?: boolean } = {}): Promise<WhepPlayResult> {
  return page.evaluate(`window.whep(${JSON.stringify(url)}, ${JSON.stringify(opts)})`) as Promise<WhepPlayResult>;
}

export interface WhepStatsSample {
  inbound: InboundSample[];
  firstFrameMs?: number;
  state: string;
  /** The SRTP profile of the DTLS transport (RTCTransportStats.srtpCipher), e.g. SRTP_AES128_CM_HMAC_SHA1_80. */
  srtpCipher?: string;
}

export async function whepStats(page: Page, index: number): Promise<WhepStatsSample> {
  return page.evaluate(`window.whepStats(${index})`) as Promise<WhepStatsSample>;
}
