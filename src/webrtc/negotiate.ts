/**
 * WHEP offer → what this session sends: which camera track goes out on which offered payload type.
 * Pure (no werift, no sockets) so every error code the WHEP route returns for an offer (400, 422)
 * is decided here and unit-tested.
 */
import sdpTransform from 'sdp-transform';
import type { TrackInfo } from '../stream/types.ts';
import type { AudioMode } from '../config/types.ts';

export class NegotiationError extends Error {
  constructor(
    readonly status: 400 | 422,
    message: string,
  ) {
    super(message);
  }
}

/** One outgoing track of a session. */
export interface SendPlan {
  kind: 'video' | 'audio';
  /** Index of the m-section in the offer. */
  mLine: number;
  /** Camera track id feeding it. */
  track: number;
  /** Codec sent on the wire ('OPUS' also when transcoded from AAC). */
  codec: 'H264' | 'H265' | 'OPUS' | 'PCMU' | 'PCMA';
  payloadType: number;
  clockRate: number;
  channels?: number;
  /** The fmtp line of the chosen offered format, echoed in the answer. */
  fmtp?: string;
  /** AAC → Opus through ffmpeg (audio: transcode). */
  transcode?: boolean;
  /** The stream feeding it, in a bundled session (several streams on one connection, see negotiateBundle). */
  stream?: string;
}

export interface Negotiated {
  plans: SendPlan[];
  /** The offer reduced to the chosen format per m-section, for werift (it matches by MIME type only). */
  offer: string;
  /** Why audio is not sent although the camera has it (shown in camera status). */
  audioNote?: string;
}

interface OfferedFormat {
  payload: number;
  codec: string;
  rate: number;
  encoding?: number;
  fmtp: Record<string, string>;
  fmtpRaw?: string;
}

function parseFmtp(config: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!config) return out;
  for (const part of config.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}

type Media = sdpTransform.MediaDescription;

function formatsOf(m: Media): OfferedFormat[] {
  return (m.rtp ?? []).map((r) => {
    const f = (m.fmtp ?? []).find((x) => x.payload === r.payload);
    return { payload: r.payload, codec: r.codec.toUpperCase(), rate: r.rate ?? 0, encoding: r.encoding ? Number(r.encoding) : undefined, fmtp: parseFmtp(f?.config), fmtpRaw: f?.config };
  });
}

/**
 * H.264 profiles in the order each one's decoders also decode the ones before it
 * (RFC 6184 8.1 profile-level-id: profile_idc + profile-iop): Constrained Baseline ⊂ Baseline ⊂ Main ⊂ High.
 */
function h264ProfileRank(profileIdc: number, iop: number): number {
  if (profileIdc === 66) return iop & 0x40 ? 0 : 1; // constraint_set1 → Constrained Baseline
  if (profileIdc === 77) return iop & 0x40 ? 0 : 2; // Main with constraint_set1 is also CB-decodable
  if (profileIdc === 88) return 2; // Extended: treat as Main
  if (profileIdc === 100) return 3;
  if (profileIdc === 110 || profileIdc === 122) return 4;
  if (profileIdc === 244) return 5;
  return 3;
}

/**
 * Picks the offered H.264 format for the camera's SPS: packetization-mode=1 (FU-A/STAP-A) is required;
 * the profile must decode the camera's; the same profile beats a wider one; a level at least the
 * camera's, or level-asymmetry-allowed, beats a lower level (which Chrome still decodes).
 */
export function chooseH264(formats: OfferedFormat[], sps: Buffer | undefined): OfferedFormat | undefined {
  const camProfile = sps && sps.length >= 4 ? sps[1]! : 66;
  const camIop = sps && sps.length >= 4 ? sps[2]! : 0xe0;
  const camLevel = sps && sps.length >= 4 ? sps[3]! : 31;
  const camRank = h264ProfileRank(camProfile, camIop);
  let best: OfferedFormat | undefined;
  let bestScore = -Infinity;
  for (const f of formats) {
    if (f.codec !== 'H264' || f.rate !== 90000) continue;
    if ((f.fmtp['packetization-mode'] ?? '0') !== '1') continue;
    const pli = f.fmtp['profile-level-id'] ?? '42001f';
    if (!/^[0-9a-fA-F]{6}$/.test(pli)) continue;
    const p = parseInt(pli.slice(0, 2), 16);
    const iop = parseInt(pli.slice(2, 4), 16);
    const lvl = parseInt(pli.slice(4, 6), 16);
    const rank = h264ProfileRank(p, iop);
    if (rank < camRank) continue;
    let score = 100 - (rank - camRank) * 10;
    if (p === camProfile) score += 5;
    if (f.fmtp['level-asymmetry-allowed'] === '1' || lvl >= camLevel) score += 20;
    if (score > bestScore) {
      bestScore = score;
      best = f;
    }
  }
  return best;
}

/** H.265 (RFC 7798 7.1): profile-id must match the camera's general_profile_idc (default 1, Main). */
export function chooseH265(formats: OfferedFormat[], profileIdc: number | undefined): OfferedFormat | undefined {
  const cam = profileIdc ?? 1;
  const h265 = formats.filter((f) => f.codec === 'H265' && f.rate === 90000);
  return h265.find((f) => Number(f.fmtp['profile-id'] ?? '1') === cam) ?? (cam === 1 ? undefined : h265.find((f) => Number(f.fmtp['profile-id'] ?? '1') > cam));
}

function h265ProfileIdc(sps: Buffer | undefined): number | undefined {
  // profile_tier_level starts at byte 3 of the SPS NAL (2-byte NAL header + 1 byte vps id/max sub layers/nesting):
  // general_profile_space(2) general_tier_flag(1) general_profile_idc(5).
  if (!sps || sps.length < 4) return undefined;
  return sps[3]! & 0x1f;
}

export interface NegotiateInput {
  offer: string;
  tracks: readonly TrackInfo[];
  audioMode: AudioMode;
  /** Whether ffmpeg is available for audio: transcode. */
  canTranscode: boolean;
}

/** Largest single-stream offer (a browser's is 5–10 kB). */
export const SAFE_OFFER_LIMIT = 64 * 1024;
/** Largest bundled offer: Chromium's runs 4–5 kB per video section, so a 64-tile page stays well below. */
export const SAFE_BUNDLE_OFFER_LIMIT = 1024 * 1024;

/** Parses an offer and checks what every WHEP offer needs (400 otherwise). */
function parseOffer(offer: string, limit = SAFE_OFFER_LIMIT): sdpTransform.SessionDescription {
  if (offer.length > limit) throw new NegotiationError(400, `offer too large (over ${limit} bytes)`);
  if (!/^v=0\r?\n/.test(offer)) throw new NegotiationError(400, 'not an SDP offer (must start with v=0)');
  let sdp: sdpTransform.SessionDescription;
  try {
    sdp = sdpTransform.parse(offer);
  } catch (e) {
    throw new NegotiationError(400, `malformed SDP: ${(e as Error).message}`);
  }
  const media = sdp.media ?? [];
  if (media.length === 0) throw new NegotiationError(400, 'the offer has no media sections');
  for (const [i, m] of media.entries()) {
    if (m.type !== 'audio' && m.type !== 'video' && m.type !== 'application') throw new NegotiationError(400, `m-section ${i}: unknown media '${m.type}'`);
    if (m.type !== 'application' && !m.protocol.includes('SAVPF')) throw new NegotiationError(400, `m-section ${i}: protocol ${m.protocol} is not UDP/TLS/RTP/SAVPF`);
    if (m.type !== 'application' && (m.rtp ?? []).length === 0) throw new NegotiationError(400, `m-section ${i}: no rtpmap`);
  }
  const ufrag = sdp.iceUfrag ?? media.find((m) => m.iceUfrag)?.iceUfrag;
  const pwd = sdp.icePwd ?? media.find((m) => m.icePwd)?.icePwd;
  if (!ufrag || !pwd) throw new NegotiationError(400, 'the offer has no ice-ufrag/ice-pwd');
  const fp = sdp.fingerprint ?? media.find((m) => m.fingerprint)?.fingerprint;
  if (!fp) throw new NegotiationError(400, 'the offer has no DTLS fingerprint');
  return sdp;
}

/** The offered format for a camera video track, or undefined. */
function chooseVideo(formats: OfferedFormat[], video: TrackInfo): OfferedFormat | undefined {
  if (video.codec === 'H264') return chooseH264(formats, video.params.sps);
  if (video.codec === 'H265') return chooseH265(formats, h265ProfileIdc(video.params.sps));
  return undefined;
}

export function negotiate(input: NegotiateInput): Negotiated {
  const sdp = parseOffer(input.offer);
  const media = sdp.media;
  const video = input.tracks.find((t) => t.kind === 'video');
  const audio = input.tracks.find((t) => t.kind === 'audio');
  const plans: SendPlan[] = [];
  let audioNote: string | undefined;
  let videoUsed = false;
  let audioUsed = false;
  let videoWanted = false;
  for (const [i, m] of media.entries()) {
    if (m.type === 'application' || m.port === 0) continue;
    if (m.direction === 'sendonly' || m.direction === 'inactive') continue;
    const formats = formatsOf(m);
    if (m.type === 'video' && video && !videoUsed) {
      videoWanted = true;
      const f = chooseVideo(formats, video);
      if (f) {
        plans.push({ kind: 'video', mLine: i, track: video.id, codec: video.codec as 'H264' | 'H265', payloadType: f.payload, clockRate: 90000, fmtp: f.fmtpRaw });
        videoUsed = true;
      }
    } else if (m.type === 'audio' && audio && !audioUsed) {
      if (input.audioMode === 'off') {
        audioNote = 'WebRTC: audio off (audio: off)';
        continue;
      }
      let codec: SendPlan['codec'] | undefined;
      let transcode = false;
      if (audio.codec === 'OPUS' || audio.codec === 'PCMU' || audio.codec === 'PCMA') codec = audio.codec;
      else if (audio.codec === 'AAC' && input.audioMode === 'transcode') {
        if (input.canTranscode) {
          codec = 'OPUS';
          transcode = true;
        } else audioNote = 'WebRTC: video only: audio: transcode is set but ffmpeg was not found';
      } else {
        audioNote = `WebRTC: video only: ${audio.codec} audio is not a WebRTC codec; set audio: transcode to send it as Opus`;
      }
      if (!codec) continue;
      const want = codec === 'OPUS' ? 'OPUS' : codec;
      const rate = codec === 'OPUS' ? 48000 : 8000;
      const f = formats.find((x) => x.codec === want && x.rate === rate);
      if (!f) {
        audioNote = `WebRTC: the viewer offered no ${want} audio`;
        continue;
      }
      plans.push({ kind: 'audio', mLine: i, track: audio.id, codec, payloadType: f.payload, clockRate: rate, channels: f.encoding ?? (codec === 'OPUS' ? 2 : 1), fmtp: f.fmtpRaw, transcode });
      audioUsed = true;
    }
  }
  if (video && videoWanted && !videoUsed && !audioUsed) {
    throw new NegotiationError(422, `no common codec: the camera sends ${video.codec}${video.codec === 'H264' ? ' (packetization-mode=1 with a fitting profile required)' : ''}, which the offer does not accept`);
  }
  if (plans.length === 0) {
    const have = input.tracks.map((t) => t.codec).join(', ') || 'nothing yet';
    throw new NegotiationError(422, `no common codec: the camera sends ${have}${audioNote ? `; ${audioNote}` : ''}`);
  }
  return { plans, offer: reduceOffer(sdp, plans), audioNote };
}

/**
 * werift pairs offered and configured codecs by MIME type alone and sends the first match, so the
 * offer it sees keeps exactly the chosen format per m-section (RTX, RED and FEC dropped: NACKs are
 * answered in-band from our own cache). Sections we do not send on keep their formats and are
 * answered inactive.
 */
function reduceOffer(sdp: sdpTransform.SessionDescription, plans: SendPlan[]): string {
  const copy: sdpTransform.SessionDescription = structuredClone(sdp);
  copy.media.forEach((m, i) => {
    const plan = plans.find((p) => p.mLine === i);
    if (!plan) return;
    const keep = (pt: number) => pt === plan.payloadType;
    m.rtp = (m.rtp ?? []).filter((r) => keep(r.payload));
    m.fmtp = (m.fmtp ?? []).filter((r) => keep(r.payload));
    m.rtcpFb = (m.rtcpFb ?? []).filter((r) => r.payload === '*' || keep(Number(r.payload)));
    m.payloads = String(plan.payloadType);
  });
  return sdpTransform.write(copy);
}

export interface BundleEntry {
  stream: string;
  /** The stream's tracks; undefined when the stream was already refused (reason). */
  tracks?: readonly TrackInfo[];
  /** Why the stream is not sent (unknown, not allowed, not streaming…). */
  reason?: string;
}

export interface NegotiatedBundle {
  plans: SendPlan[];
  offer: string;
  /** Per entry (m-section), in order: undefined when it is sent, else why it is answered inactive. */
  refused: (string | undefined)[];
}

/**
 * A bundled session: the offer's m-section i carries entries[i]'s video (camgate's wall opens one
 * connection for all its tiles, see docs/design.md "Wall"). Video only: wall tiles are muted.
 * Sections without a stream, or whose stream is refused or has no common codec, are answered
 * inactive, so the browser keeps the others. 422 when no section is sent at all.
 */
export function negotiateBundle(offer: string, entries: readonly BundleEntry[]): NegotiatedBundle {
  const sdp = parseOffer(offer, SAFE_BUNDLE_OFFER_LIMIT);
  const plans: SendPlan[] = [];
  const refused: (string | undefined)[] = entries.map((e) => e.reason);
  sdp.media.forEach((m, i) => {
    const e = entries[i];
    if (!e || e.reason || !e.tracks) return;
    if (m.type !== 'video' || m.port === 0 || m.direction === 'sendonly' || m.direction === 'inactive') {
      refused[i] = `m-section ${i} is not a receiving video section`;
      return;
    }
    const video = e.tracks.find((t) => t.kind === 'video');
    if (!video) {
      refused[i] = `'${e.stream}' has no video track`;
      return;
    }
    const f = chooseVideo(formatsOf(m), video);
    if (!f) {
      refused[i] = `no common codec: '${e.stream}' sends ${video.codec}, which m-section ${i} does not accept`;
      return;
    }
    plans.push({ kind: 'video', mLine: i, track: video.id, codec: video.codec as 'H264' | 'H265', payloadType: f.payload, clockRate: 90000, fmtp: f.fmtpRaw, stream: e.stream });
  });
  for (let i = sdp.media.length; i < entries.length; i++) refused[i] ??= `the offer has no m-section ${i}`;
  if (plans.length === 0) throw new NegotiationError(422, `no stream of the bundle can be sent: ${refused.filter(Boolean).join('; ') || 'no streams'}`);
  return { plans, offer: reduceOffer(sdp, plans), refused };
}
