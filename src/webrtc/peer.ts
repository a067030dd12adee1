/**
 * One WHEP viewer: a werift RTCPeerConnection that only sends. Runs inside a WebRTC worker
 * (worker.ts); knows nothing about the hub. The worker hands it packetized access units.
 *
 * What werift does for us: ICE, DTLS, SRTP, RTCP receive. What we do on top:
 *  - RTP headers (our own sequence numbers and timestamps: the first-frame burst compresses time);
 *  - a retransmission cache of RTX_CACHE packets per track (werift keeps 128, < 1 s at 4 Mbit/s);
 *  - NTP/RTP pairs for sender reports taken from the camera's wall clock, not from the send time;
 *  - PLI/FIR counting (answered by the worker with the cached keyframe when that costs no latency).
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  useSdesMid,
  serializeSdesMid,
  type RTCRtpSender,
  type RTCRtpTransceiver,
} from 'werift';
import sdpTransform from 'sdp-transform';
import type { Socket } from 'node:dgram';
import { SrtpAesCmSender, SRTP_AES128_CM_HMAC_SHA1_80, SRTP_AEAD_AES_128_GCM } from '../rtp/srtp.ts';
import type { SendPlan } from './negotiate.ts';
import type { SdpFrag } from './sdpfrag.ts';

/** Retransmission cache per track, a power of two: 2048 packets ≈ 4.7 s at 4 Mbit/s with 1200-byte packets. */
export const RTX_CACHE = 2048;
/** ICE 'disconnected' longer than this ends the session (consent freshness, RFC 7675, gives up at 30 s). */
export const DISCONNECTED_GRACE_MS = 10_000;
/**
 * A session whose browser never connects (page closed while the POST was in flight, ICE never
 * succeeding) ends after this long: nothing else would ever free its port, registry entry and pump.
 */
export const CONNECT_TIMEOUT_MS = 15_000;
const NTP_EPOCH_OFFSET_S = 2208988800;
const SDES_MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';

/** The RTCRtpSender fields werift reads when it builds sender reports (not in its typings). */
interface WeriftSender {
  ssrc: number;
  mid?: string;
  headerExtensions: { uri: string; id: number }[];
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  runRtcp(): Promise<void>;
}

export function ntpFromMs(ms: number): bigint {
  const sec = Math.floor(ms / 1000);
  const frac = Math.floor(((ms - sec * 1000) / 1000) * 0x100000000);
  return (BigInt(sec + NTP_EPOCH_OFFSET_S) << 32n) | BigInt(frac >>> 0);
}

export interface OutPayload {
  payload: Buffer;
  marker: boolean;
}

export interface PeerOptions {
  id: string;
  plans: SendPlan[];
  /** The offer reduced by negotiate(). */
  offer: string;
  portRange?: [number, number];
  /** Extra host candidate IPs announced with each real host candidate's port (NAT, Docker). */
  additionalHosts: string[];
  /** Ends the session when ICE + DTLS are not up this long after creation (default CONNECT_TIMEOUT_MS). */
  connectTimeoutMs?: number;
  /** Ends a connected session that stays disconnected (or, after an ICE restart, unconnected) this long. */
  disconnectedGraceMs?: number;
  onClose: (reason: string) => void;
  onKeyframeRequest: (plan: SendPlan) => void;
  log?: (msg: string) => void;
}

/** The parts of werift's DTLS/ICE transports the direct send path uses (not in its typings). */
interface WeriftDtls {
  state: string;
  srtp?: { localContext?: { profile: number; srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer } };
  iceTransport: { connection: WeriftIceConnection };
  sendRtp(payload: Buffer, header: RtpHeader): Promise<number>;
}
interface WeriftIceConnection {
  nominated?: { remoteAddr: [string, number]; protocol: { transport?: { type?: string; closed?: boolean; socket?: Socket } }; packetsSent: number; bytesSent: number };
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
}

/** CAMGATE_WEBRTC_OWN_SRTP=0: protect RTP through werift's SRTP (a Cipher and an Hmac per packet) instead of ours. */
const OWN_SRTP = process.env.CAMGATE_WEBRTC_OWN_SRTP !== '0';

/**
 * SRTP profiles offered to the browser's DTLS ClientHello, in our order of preference. werift
 * prefers AEAD_AES_128_GCM; we prefer AES_CM_128_HMAC_SHA1_80 (mandatory for WebRTC, RFC 8827 6.5)
 * because our own sender (src/rtp/srtp.ts) protects it without a native object per packet.
 */
export const SRTP_PROFILES = OWN_SRTP ? [SRTP_AES128_CM_HMAC_SHA1_80, SRTP_AEAD_AES_128_GCM] : [SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80];

export class OutTrack {
  seq = Math.floor(Math.random() * 0x10000);
  /** SRTP rollover counter (RFC 3711 3.3.1) of `seq`: we number packets, so we know when it wraps. */
  private roc = 0;
  readonly tsBase = Math.floor(Math.random() * 0x7fffffff);
  /**
   * Retransmission cache by sequence number: the SRTP packet as sent (own SRTP: resent as is, it
   * never reached the browser, so it is no replay) or the RTP packet (werift's SRTP protects again).
   */
  private readonly cacheSeq = new Int32Array(RTX_CACHE).fill(-1);
  private readonly cache: (Buffer | RtpPacket | undefined)[] = new Array(RTX_CACHE);
  /** Our SRTP sender, made for werift's SRTP session keys once DTLS is up (AES-CM profile only). */
  private srtp?: { keys: object; sender: SrtpAesCmSender };
  private lastWallclock = NaN;
  /** The serialized RTP header of this track (ssrc, payload type, extensions); per packet only M, seq and ts change. */
  private headerTemplate?: Buffer;
  /** Input pts that maps to tsBase; set by the first unit sent. */
  anchor: number | undefined;
  epoch = -1;
  lastOut = 0;
  started = false;
  packets = 0;
  bytes = 0;
  nacked = 0;
  retransmitted = 0;
  keyframeRequests = 0;
  /** Command sequence number of the last FIR acted on (RFC 5104 4.3.1.2: a repeat is a retransmission). */
  lastFirSeq = -1;

  constructor(
    readonly plan: SendPlan,
    readonly sender: RTCRtpSender,
  ) {}

  /** Header extensions of every packet (only sdes:mid, RFC 8843), serialized once. */
  private extensions?: { id: number; payload: Buffer }[];
  private rtcpStarted = false;

  /**
   * Sends one packet straight to the DTLS transport (SRTP + UDP), doing here the little of werift's
   * RTCRtpSender.sendRtp that a pass-through sender needs. werift's version costs ~25 % of the
   * per-packet CPU on top of SRTP and the socket: an NTP time through a string split, header
   * extensions rebuilt per packet, bandwidth-estimation bookkeeping we never use.
   * What we keep: the counters and NTP/RTP pair of its sender reports, its RTCP timer, the mid.
   * With the AES-CM profile the packet is protected by our own SRTP sender and written to the
   * nominated pair's UDP socket: werift's path costs four promises and two native crypto objects a packet.
   */
  send(p: OutPayload, ts: number, wallclock: number): void {
    const sender = this.sender as unknown as WeriftSender;
    const transport = this.sender.dtlsTransport as unknown as WeriftDtls;
    if (transport.state !== 'connected') return;
    if (!this.extensions) {
      const mid = sender.headerExtensions.find((e) => e.uri === SDES_MID_URI);
      this.extensions = mid && sender.mid ? [{ id: mid.id, payload: serializeSdesMid(sender.mid) }] : [];
    }
    const seq = this.seq;
    const roc = this.roc;
    this.seq = (seq + 1) & 0xffff;
    if (this.seq === 0) this.roc = (roc + 1) >>> 0;
    const srtp = this.ownSrtp(transport);
    const slot = seq & (RTX_CACHE - 1);
    this.cacheSeq[slot] = seq;
    if (srtp) {
      const header = this.header(sender);
      header[1] = (p.marker ? 0x80 : 0) | this.plan.payloadType;
      header.writeUInt16BE(seq, 2);
      header.writeUInt32BE(ts >>> 0, 4);
      const packet = srtp.protect(header, p.payload, roc);
      this.cache[slot] = packet;
      sendDatagram(transport, packet);
    } else {
      const header = new RtpHeader({ payloadType: this.plan.payloadType, sequenceNumber: seq, timestamp: ts >>> 0, marker: p.marker, ssrc: sender.ssrc, extensions: this.extensions });
      const pkt = new RtpPacket(header, p.payload);
      this.cache[slot] = pkt;
      void transport.sendRtp(p.payload, header).catch(() => undefined);
    }
    // Sender reports (RFC 3550 6.4.1) pair the camera's capture time with this RTP timestamp, so
    // the browser's A/V sync and latency estimates see the camera's clock, not our send time.
    if (wallclock !== this.lastWallclock) {
      // Per access unit, not per packet: the NTP time is a BigInt.
      this.lastWallclock = wallclock;
      sender.ntpTimestamp = ntpFromMs(wallclock);
    }
    sender.rtpTimestamp = ts >>> 0;
    sender.packetCount = (sender.packetCount + 1) >>> 0;
    sender.octetCount = (sender.octetCount + p.payload.length) >>> 0;
    if (!this.rtcpStarted) {
      this.rtcpStarted = true;
      void sender.runRtcp();
    }
    this.packets++;
    this.bytes += p.payload.length + 12;
  }

  private ownSrtp(transport: WeriftDtls): SrtpAesCmSender | undefined {
    if (!OWN_SRTP) return undefined;
    const ctx = transport.srtp?.localContext;
    if (!ctx || ctx.profile !== SRTP_AES128_CM_HMAC_SHA1_80) return undefined;
    if (this.srtp?.keys !== ctx) this.srtp = { keys: ctx, sender: new SrtpAesCmSender({ key: ctx.srtpSessionKey, salt: ctx.srtpSessionSalt, authKey: ctx.srtpSessionAuthTag }) };
    return this.srtp.sender;
  }

  private header(sender: WeriftSender): Buffer {
    if (!this.headerTemplate) {
      const h = new RtpHeader({ payloadType: this.plan.payloadType, sequenceNumber: 0, timestamp: 0, marker: false, ssrc: sender.ssrc, extensions: this.extensions });
      this.headerTemplate = h.serialize(h.serializeSize);
    }
    return this.headerTemplate;
  }

  /** NACK (RFC 4585 6.2.1): resend from our cache. */
  retransmit(seqs: number[]): void {
    // werift's sender answers NACKs from its own 128-packet cache, which our direct send never
    // fills: every retransmission comes from this cache.
    const transport = this.sender.dtlsTransport as unknown as WeriftDtls;
    for (const seq of seqs) {
      this.nacked++;
      const slot = seq & (RTX_CACHE - 1);
      const cached = this.cache[slot];
      if (!cached || this.cacheSeq[slot] !== seq) continue;
      this.retransmitted++;
      if (cached instanceof RtpPacket) void transport.sendRtp(cached.payload, cached.header).catch(() => undefined);
      else sendDatagram(transport, cached);
    }
  }
}

/** CAMGATE_WEBRTC_DTLS_EARLY=0: keep werift's 100 ms wait before the DTLS ClientHello. */
const DTLS_EARLY = process.env.CAMGATE_WEBRTC_DTLS_EARLY !== '0';

interface WeriftDtlsStart {
  role: string;
  dtls?: WeriftDtlsClient;
  onStateChange: { subscribe(f: (s: string) => void): unknown };
}

/** The parts of werift's DtlsClient (DtlsSocket) touched here (not in its typings). */
export interface WeriftDtlsClient {
  connect(): Promise<void>;
  /** Called by the socket with each run of reassembled handshake messages. */
  onHandleHandshakes: (assembled: { msg_type: number }[]) => Promise<void>;
  dtls: { flight: number };
}

/** DTLS HandshakeType hello_verify_request (RFC 6347 4.3.2). */
const HELLO_VERIFY_REQUEST = 3;

/** Adjusts werift's DTLS client of this transport once it exists (we answer a=setup:active, so it is one). */
function onDtlsClient(d: WeriftDtlsStart): void {
  d.onStateChange.subscribe((state) => {
    if (state !== 'connecting') return;
    // The DtlsClient is created right after this state change, in the same synchronous run.
    queueMicrotask(() => {
      const dtls = d.dtls;
      if (d.role !== 'client' || !dtls) return;
      ignoreRepeatedHelloVerify(dtls);
      if (DTLS_EARLY) helloAtOnce(dtls);
    });
  });
}

/**
 * A DTLS server that answers slowly sees our ClientHello twice (we retransmit after 500 ms) and
 * answers both with a HelloVerifyRequest. werift's client throws on the second one, which it gets
 * after it has already sent the ClientHello with the cookie (flight 3), and the handshake fails.
 * That was the 1–9 failed setups at 100 viewers. The server's cookie is the same both times, so
 * the repeated request is dropped and the handshake goes on (RFC 6347 4.2.1: the ClientHello
 * with the cookie is already on its way and is retransmitted by its own timer).
 */
export function ignoreRepeatedHelloVerify(dtls: WeriftDtlsClient): void {
  const handle = dtls.onHandleHandshakes;
  dtls.onHandleHandshakes = (assembled) => {
    if (dtls.dtls.flight >= 3) assembled = assembled.filter((h) => h.msg_type !== HELLO_VERIFY_REQUEST);
    return assembled.length ? handle(assembled) : Promise.resolve();
  };
}

/**
 * werift's DTLS client waits a fixed 100 ms after ICE connects before it sends its ClientHello.
 * No browser needs that wait: Chromium keeps a ClientHello that arrives before its own DTLS has
 * started. So the handshake starts at once, and werift's own later call gets the handshake already
 * under way.
 */
function helloAtOnce(dtls: WeriftDtlsClient): void {
  const handshake = dtls.connect();
  handshake.catch(() => undefined); // werift's own call reports failures
  dtls.connect = () => handshake;
}

/** An SRTP datagram onto the nominated ICE pair: its UDP socket directly, werift's ICE send otherwise (TCP, TURN). */
function sendDatagram(transport: WeriftDtls, packet: Buffer): void {
  const conn = transport.iceTransport.connection;
  // RFC 7675: no media on a pair whose consent expired.
  if (!conn.canSendApplicationData()) return;
  const pair = conn.nominated!;
  const udp = pair.protocol.transport;
  if (udp?.type === 'udp' && udp.socket && !udp.closed) {
    try {
      udp.socket.send(packet, pair.remoteAddr[1], pair.remoteAddr[0]);
    } catch {
      return; // the socket closed under us: the session is ending
    }
    pair.packetsSent++;
    pair.bytesSent += packet.length;
  } else {
    void conn.send(packet).catch(() => undefined);
  }
}

export interface PeerStats {
  bytesSent: number;
  packetsSent: number;
  nacks: number;
  retransmitted: number;
  keyframeRequests: number;
  connected: boolean;
}

export class WhepPeer {
  readonly id: string;
  readonly pc: RTCPeerConnection;
  readonly tracks: OutTrack[] = [];
  private closed = false;
  /** Armed whenever the peer is not connected; firing ends the session (never connected, or consent lost). */
  private watchdog?: NodeJS.Timeout;
  private remoteOffer: string;
  connected = false;
  onConnected?: () => void;
  etag = 1;

  constructor(private readonly opts: PeerOptions) {
    this.id = opts.id;
    this.remoteOffer = opts.offer;
    const video: RTCRtpCodecParameters[] = [];
    const audio: RTCRtpCodecParameters[] = [];
    const fb = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }];
    for (const p of opts.plans) {
      const mime = p.codec === 'OPUS' ? 'audio/opus' : p.kind === 'video' ? `video/${p.codec}` : `audio/${p.codec}`;
      const c = new RTCRtpCodecParameters({ mimeType: mime, clockRate: p.clockRate, channels: p.kind === 'audio' ? p.channels : undefined, payloadType: p.payloadType, rtcpFeedback: p.kind === 'video' ? fb : [], parameters: p.fmtp });
      (p.kind === 'video' ? video : audio).push(c);
    }
    // Sections we do not send on still need a codec werift accepts; they are answered inactive.
    const parsed = sdpTransform.parse(opts.offer);
    parsed.media.forEach((m, i) => {
      if (opts.plans.some((p) => p.mLine === i) || (m.type !== 'audio' && m.type !== 'video')) return;
      const list = m.type === 'video' ? video : audio;
      for (const r of m.rtp ?? []) {
        if (!list.some((c) => c.mimeType.toLowerCase() === `${m.type}/${r.codec}`.toLowerCase())) {
          list.push(new RTCRtpCodecParameters({ mimeType: `${m.type}/${r.codec}`, clockRate: r.rate ?? 90000, payloadType: r.payload, channels: r.encoding ? Number(r.encoding) : undefined }));
        }
      }
    });
    this.pc = new RTCPeerConnection({
      codecs: { video, audio },
      headerExtensions: { video: [useSdesMid()], audio: [useSdesMid()] },
      // Server side gathers host candidates only: no STUN round trips (they stall setup when the
      // STUN server is unreachable); NAT is handled by additionalHosts.
      iceServers: [],
      icePortRange: opts.portRange && opts.portRange[1] > opts.portRange[0] ? opts.portRange : undefined,
      iceUseIpv6: false,
      bundlePolicy: 'max-bundle',
    });
    // A one-port block (the engine owns the allocation, see PortBlocks) is refused by werift's
    // configuration check ("should not be same value") but works in its port search: set it directly.
    if (opts.portRange && opts.portRange[1] === opts.portRange[0]) (this.pc as unknown as { config: { icePortRange?: [number, number] } }).config.icePortRange = opts.portRange;
    this.pc.connectionStateChange.subscribe((s) => this.onState(s));
    this.pc.iceConnectionStateChange.subscribe((s) => this.onState(s));
    this.arm(opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS, 'not connected in time');
  }

  private arm(ms: number, reason: string): void {
    if (this.watchdog) return;
    this.watchdog = setTimeout(() => this.close(reason), ms);
    this.watchdog.unref();
  }

  private disarm(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private onState(s: string): void {
    if (this.closed) return;
    if (s === 'connected' || s === 'completed') {
      if (this.pc.connectionState === 'connected' && this.pc.iceConnectionState !== 'disconnected') this.disarm();
      if (!this.connected && this.pc.connectionState === 'connected') {
        this.connected = true;
        this.onConnected?.();
      }
    } else if (s === 'failed') {
      // werift reports consent expiry (RFC 7675: no consent response for 30 s) as ICE 'failed'.
      this.close('ICE or DTLS failed');
    } else if (s === 'closed') {
      this.close('closed by peer');
    } else if (this.connected) {
      // 'disconnected', or 'checking'/'new' after an ICE restart that never completes.
      this.arm(this.opts.disconnectedGraceMs ?? DISCONNECTED_GRACE_MS, 'consent expired');
    }
  }

  /** setRemoteDescription + answer; returns the answer SDP with host candidates (no server trickle). */
  async answer(): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: this.opts.offer });
    for (const d of this.pc.dtlsTransports) {
      (d as unknown as { srtpProfiles: number[] }).srtpProfiles = SRTP_PROFILES;
      onDtlsClient(d as unknown as WeriftDtlsStart);
      // FIR is read off the transport: werift routes payload-specific feedback by its media SSRC,
      // which RFC 5104 4.3.1.2 sets to 0 for FIR (the target SSRC is in the FCI), so a conforming
      // FIR never reached the sender's onRtcp.
      (d as unknown as { onRtcp: { subscribe(f: (p: unknown) => void): unknown } }).onRtcp.subscribe((p) => this.onFir(p));
    }
    const transceivers = this.pc.getTransceivers();
    for (const t of transceivers) {
      const plan = this.opts.plans.find((p) => p.mLine === t.mLineIndex);
      if (!plan) {
        t.setDirection('inactive');
        continue;
      }
      t.setDirection('sendonly');
      this.attach(t, plan);
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return this.withAdditionalHosts(this.pc.localDescription!.sdp);
  }

  private attach(t: RTCRtpTransceiver, plan: SendPlan): void {
    const out = new OutTrack(plan, t.sender);
    this.tracks.push(out);
    t.sender.onGenericNack.subscribe((nack) => out.retransmit(nack.lost));
    // PLI (RFC 4585 6.3.1) names the sender's SSRC as its media source, so werift routes it here.
    t.sender.onPictureLossIndication.subscribe(() => {
      out.keyframeRequests++;
      this.opts.onKeyframeRequest(plan);
    });
  }

  /** FIR (RFC 5104 4.3.1): one keyframe request per FCI entry naming one of our tracks, once per command sequence number. */
  private onFir(p: unknown): void {
    const fb = p as { type?: number; feedback?: { count?: number; fir?: { ssrc: number; sequenceNumber: number }[] } };
    if (fb.type !== 206 || fb.feedback?.count !== 4) return;
    for (const entry of fb.feedback.fir ?? []) {
      const out = this.tracks.find((t) => (t.sender as unknown as WeriftSender).ssrc === entry.ssrc);
      if (!out || out.lastFirSeq === entry.sequenceNumber) continue;
      out.lastFirSeq = entry.sequenceNumber;
      out.keyframeRequests++;
      this.opts.onKeyframeRequest(out.plan);
    }
  }

  /** Duplicate each host candidate for every additional host, same port (the socket listens on all addresses). */
  withAdditionalHosts(sdp: string): string {
    if (this.opts.additionalHosts.length === 0) return sdp;
    const lines = sdp.split('\r\n');
    const out: string[] = [];
    let n = 0;
    for (const line of lines) {
      out.push(line);
      const m = /^a=candidate:(\S+) (\d+) (udp|UDP) (\d+) (\S+) (\d+) typ host(.*)$/.exec(line);
      if (!m) continue;
      for (const host of this.opts.additionalHosts) {
        if (host === m[5]) continue;
        const prio = Math.max(1, Number(m[4]) - 1 - n++);
        out.push(`a=candidate:x${m[1]}${n} ${m[2]} udp ${prio} ${host} ${m[6]} typ host${m[7]}`);
      }
    }
    return out.join('\r\n');
  }

  /** Trickled candidates; or an ICE restart when the fragment carries new credentials. Returns the answer fragment for a restart. */
  async patch(frag: SdpFrag): Promise<{ restart: boolean; ufrag?: string; pwd?: string; candidates?: string[]; mid?: string }> {
    const cur = sdpTransform.parse(this.remoteOffer);
    const curUfrag = cur.iceUfrag ?? cur.media[0]?.iceUfrag;
    if (frag.ufrag && frag.pwd && frag.ufrag !== curUfrag) {
      // ICE restart (RFC 8840 §4.4 / WHEP): re-offer the remote description with the new
      // credentials; werift restarts its ICE agent and answers with fresh local credentials.
      cur.iceUfrag = undefined;
      cur.icePwd = undefined;
      for (const m of cur.media) {
        m.iceUfrag = frag.ufrag;
        m.icePwd = frag.pwd;
        m.candidates = [];
        delete (m as { endOfCandidates?: string }).endOfCandidates;
      }
      this.remoteOffer = sdpTransform.write(cur);
      await this.pc.setRemoteDescription({ type: 'offer', sdp: this.remoteOffer });
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      // werift's connect() skips ICE when DTLS is already up, so an answerer-side restart would never
      // run connectivity checks again: start the restarted ICE transport ourselves.
      for (const d of this.pc.dtlsTransports) {
        if (d.iceTransport.state !== 'checking' && d.iceTransport.state !== 'connected') void d.iceTransport.start().catch(() => undefined);
      }
      await this.addCandidates(frag);
      const local = sdpTransform.parse(this.withAdditionalHosts(this.pc.localDescription!.sdp));
      const m0 = local.media[0];
      const ufrag = local.iceUfrag ?? m0?.iceUfrag ?? '';
      const pwd = local.icePwd ?? m0?.icePwd ?? '';
      const candidates = (m0?.candidates ?? []).map((c) => `${c.foundation} ${c.component} ${c.transport} ${c.priority} ${c.ip} ${c.port} typ ${c.type}`);
      this.etag++;
      return { restart: true, ufrag, pwd, candidates, mid: m0?.mid !== undefined ? String(m0.mid) : undefined };
    }
    await this.addCandidates(frag);
    return { restart: false };
  }

  private async addCandidates(frag: SdpFrag): Promise<void> {
    for (const c of frag.candidates) {
      await this.pc.addIceCandidate({ candidate: `candidate:${c.candidate}`, sdpMid: c.mid, sdpMLineIndex: c.mLineIndex }).catch(() => undefined);
    }
  }

  stats(): PeerStats {
    const s: PeerStats = { bytesSent: 0, packetsSent: 0, nacks: 0, retransmitted: 0, keyframeRequests: 0, connected: this.connected };
    for (const t of this.tracks) {
      s.bytesSent += t.bytes;
      s.packetsSent += t.packets;
      s.nacks += t.nacked;
      s.retransmitted += t.retransmitted;
      s.keyframeRequests += t.keyframeRequests;
    }
    return s;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    void this.pc.close().catch(() => undefined);
    this.opts.onClose(reason);
  }
}
