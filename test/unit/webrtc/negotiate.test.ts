import { describe, it, expect } from 'vitest';
import sdpTransform from 'sdp-transform';
import { negotiate, negotiateBundle, NegotiationError, chooseH264, SAFE_OFFER_LIMIT } from '../../../src/webrtc/negotiate.ts';
import { parseSdpFrag, writeSdpFrag } from '../../../src/webrtc/sdpfrag.ts';
import { iceServerLinks } from '../../../src/webrtc/routes.ts';
import { ntpFromMs } from '../../../src/webrtc/peer.ts';
import type { TrackInfo } from '../../../src/stream/types.ts';
import { chromeOffer } from './offers.ts';

// SPS bytes 1..3 = profile_idc, constraint flags, level_idc (the rest is irrelevant to negotiation).
const sps = (profile: number, iop: number, level: number) => Buffer.from([0x67, profile, iop, level, 0xac]);
const h264 = (profile = 0x64, iop = 0, level = 0x1f): TrackInfo => ({ id: 0, kind: 'video', codec: 'H264', clockRate: 90000, params: { sps: sps(profile, iop, level) } });
const aac: TrackInfo = { id: 1, kind: 'audio', codec: 'AAC', clockRate: 48000, params: {} };
const pcma: TrackInfo = { id: 1, kind: 'audio', codec: 'PCMA', clockRate: 8000, params: {} };
const opus: TrackInfo = { id: 1, kind: 'audio', codec: 'OPUS', clockRate: 48000, params: {} };

function fails(fn: () => unknown): NegotiationError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NegotiationError) return e;
    throw e;
  }
  throw new Error('did not fail');
}

describe('negotiate', () => {
  it('picks the packetization-mode=1 H.264 format whose profile fits the camera', () => {
    // High-profile camera: only 640c1f (High) decodes it; 42e01f mode 1 is Constrained Baseline.
    const n = negotiate({ offer: chromeOffer(), tracks: [h264(0x64)], audioMode: 'auto', canTranscode: true });
    const v = n.plans.find((p) => p.kind === 'video')!;
    expect(v.payloadType).toBe(98);
    expect(v.fmtp).toContain('profile-level-id=640c1f');
    // Constrained-baseline camera: the exact profile wins over wider ones; mode 0 is never chosen.
    const cb = negotiate({ offer: chromeOffer(), tracks: [h264(0x42, 0xc0, 0x1e)], audioMode: 'auto', canTranscode: true });
    expect(cb.plans[0]!.payloadType).toBe(96);
    // The reduced offer keeps exactly the chosen format in the video section.
    const red = sdpTransform.parse(n.offer);
    expect(red.media[0]!.rtp.map((r) => r.payload)).toEqual([98]);
  });

  it('prefers a format whose level suffices or allows level asymmetry', () => {
    const offered = [
      { payload: 1, codec: 'H264', rate: 90000, fmtp: { 'packetization-mode': '1', 'profile-level-id': '64001f' } },
      { payload: 2, codec: 'H264', rate: 90000, fmtp: { 'packetization-mode': '1', 'profile-level-id': '640028' } },
    ];
    expect(chooseH264(offered, sps(0x64, 0, 0x28))!.payload).toBe(2);
  });

  it('passes Opus, PCMU and PCMA through; AAC only with audio: transcode', () => {
    const a = negotiate({ offer: chromeOffer(), tracks: [h264(), pcma], audioMode: 'auto', canTranscode: true });
    expect(a.plans.find((p) => p.kind === 'audio')).toMatchObject({ codec: 'PCMA', payloadType: 8, clockRate: 8000 });
    const o = negotiate({ offer: chromeOffer(), tracks: [h264(), opus], audioMode: 'auto', canTranscode: true });
    expect(o.plans.find((p) => p.kind === 'audio')).toMatchObject({ codec: 'OPUS', payloadType: 111 });
    const plain = negotiate({ offer: chromeOffer(), tracks: [h264(), aac], audioMode: 'auto', canTranscode: true });
    expect(plain.plans.map((p) => p.kind)).toEqual(['video']);
    expect(plain.audioNote).toMatch(/video only.*audio: transcode/);
    const tx = negotiate({ offer: chromeOffer(), tracks: [h264(), aac], audioMode: 'transcode', canTranscode: true });
    expect(tx.plans.find((p) => p.kind === 'audio')).toMatchObject({ codec: 'OPUS', transcode: true, payloadType: 111 });
    const noFfmpeg = negotiate({ offer: chromeOffer(), tracks: [h264(), aac], audioMode: 'transcode', canTranscode: false });
    expect(noFfmpeg.audioNote).toMatch(/ffmpeg/);
    expect(negotiate({ offer: chromeOffer(), tracks: [h264(), pcma], audioMode: 'off', canTranscode: true }).plans).toHaveLength(1);
  });

  it('422 when no offered format carries the camera video', () => {
    expect(fails(() => negotiate({ offer: chromeOffer({ video: ['VP8'] }), tracks: [h264()], audioMode: 'auto', canTranscode: true })).status).toBe(422);
    expect(fails(() => negotiate({ offer: chromeOffer({ video: ['H264-640c1f-0'] }), tracks: [h264()], audioMode: 'auto', canTranscode: true })).status).toBe(422);
    const h265: TrackInfo = { id: 0, kind: 'video', codec: 'H265', clockRate: 90000, params: {} };
    expect(fails(() => negotiate({ offer: chromeOffer(), tracks: [h265], audioMode: 'auto', canTranscode: true })).status).toBe(422);
    expect(negotiate({ offer: chromeOffer({ video: ['H265', 'VP8'] }), tracks: [h265], audioMode: 'auto', canTranscode: true }).plans[0]).toMatchObject({ codec: 'H265' });
    const mjpeg: TrackInfo = { id: 0, kind: 'video', codec: 'MJPEG', clockRate: 90000, params: {} };
    expect(fails(() => negotiate({ offer: chromeOffer(), tracks: [mjpeg], audioMode: 'auto', canTranscode: true })).status).toBe(422);
  });

  it('400 for what is not a usable SDP offer', () => {
    for (const bad of ['', 'hello', 'v=0\r\n', chromeOffer().replace(/a=ice-ufrag:.*\r\n/g, ''), chromeOffer().replace(/a=fingerprint:.*\r\n/g, ''), chromeOffer().replace(/UDP\/TLS\/RTP\/SAVPF/g, 'RTP/AVP'), 'v=0\r\n' + 'a=x\r\n'.repeat(20000)]) {
      expect(fails(() => negotiate({ offer: bad, tracks: [h264()], audioMode: 'auto', canTranscode: true })).status).toBe(400);
    }
  });
});

describe('negotiateBundle (one connection, one stream per video section)', () => {
  const h265: TrackInfo = { id: 0, kind: 'video', codec: 'H265', clockRate: 90000, params: {} };

  it('sends entry i on m-section i with its own format; refused entries and sections without an entry stay inactive', () => {
    const offer = chromeOffer({ videos: 4, audio: ['opus'] });
    const n = negotiateBundle(offer, [
      { stream: 'a', tracks: [h264(0x64), aac] },
      { stream: 'b', reason: 'camera b is not streaming' },
      { stream: 'c', tracks: [h264(0x42, 0xc0, 0x1e)] },
      { stream: 'd/sub', tracks: [h265] },
    ]);
    expect(n.plans.map((p) => [p.stream, p.mLine, p.kind, p.payloadType])).toEqual([
      ['a', 0, 'video', 98],
      ['c', 2, 'video', 96],
    ]);
    expect(n.refused[0]).toBeUndefined();
    expect(n.refused[1]).toBe('camera b is not streaming');
    expect(n.refused[2]).toBeUndefined();
    expect(n.refused[3]).toMatch(/no common codec: 'd\/sub' sends H265/);
    // Each sent section keeps exactly its format; the others (and the audio section) keep theirs and are answered inactive.
    const red = sdpTransform.parse(n.offer);
    expect(red.media[0]!.rtp.map((r) => r.payload)).toEqual([98]);
    expect(red.media[2]!.rtp.map((r) => r.payload)).toEqual([96]);
    expect(red.media[1]!.rtp.length).toBeGreaterThan(1);
    expect(red.media[4]!.type).toBe('audio');
  });

  it('more entries than sections are refused; 422 when nothing can be sent; 400 for a bad offer', () => {
    const n = negotiateBundle(chromeOffer({ videos: 1, audio: [] }), [
      { stream: 'a', tracks: [h264()] },
      { stream: 'b', tracks: [h264()] },
    ]);
    expect(n.plans).toHaveLength(1);
    expect(n.refused[1]).toMatch(/no m-section 1/);
    expect(fails(() => negotiateBundle(chromeOffer({ videos: 2 }), [{ stream: 'a', reason: 'unknown stream' }, { stream: 'b', tracks: [h265] }])).status).toBe(422);
    expect(fails(() => negotiateBundle('v=0\r\n', [{ stream: 'a', tracks: [h264()] }])).status).toBe(400);
  });

  it('takes a 64-section offer that a single-stream session refuses as too large', () => {
    // Chromium offers ~20 video formats per section (4–5 kB); a dozen here.
    const formats = ['H264-42e01f-1', 'H264-42e01f-0', 'H264-42001f-1', 'H264-42001f-0', 'H264-4d001f-1', 'H264-4d001f-0', 'H264-640c1f-1', 'H264-640c1f-0', 'H265', 'VP8', 'VP8', 'VP8'];
    const big = chromeOffer({ videos: 64, audio: [], video: formats });
    expect(big.length).toBeGreaterThan(SAFE_OFFER_LIMIT);
    expect(fails(() => negotiate({ offer: big, tracks: [h264()], audioMode: 'auto', canTranscode: true })).status).toBe(400);
    const n = negotiateBundle(big, Array.from({ length: 64 }, (_, i) => ({ stream: `cam${i}`, tracks: [h264()] })));
    expect(n.plans).toHaveLength(64);
    expect(new Set(n.plans.map((p) => p.mLine)).size).toBe(64);
  });
});

describe('sdpfrag', () => {
  it('reads credentials, candidates per mid, end-of-candidates; ignores mDNS candidates', () => {
    const r = parseSdpFrag(
      'a=ice-options:trickle\r\na=group:BUNDLE 0 1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n' +
        'a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n' +
        'a=candidate:1 1 udp 2122260223 3f1c9a6e-1111-2222-3333-444455556666.local 50000 typ host\r\na=end-of-candidates\r\n',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.frag).toMatchObject({ ufrag: 'EsAw', pwd: 'P2uYro0UCOQ4zxjKXaWCBui1', ignoredMdns: 1, endOfCandidates: true, mids: ['0'] });
    expect(r.frag.candidates).toEqual([{ candidate: '1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0', mid: '0', mLineIndex: 0 }]);
  });

  it('rejects malformed fragments', () => {
    for (const bad of ['garbage', 'a=candidate:1 1 udp\r\n', 'a=ice-ufrag:abcd\r\n', 'a=ice-ufrag:ab\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n', 'a=x\r\n'.repeat(2000)]) {
      expect(parseSdpFrag(bad).ok).toBe(false);
    }
  });

  it('writes the restart answer fragment', () => {
    const f = writeSdpFrag({ ufrag: 'wxyz', pwd: 'P2uYro0UCOQ4zxjKXaWCBui1', mid: '0', candidates: ['1 1 udp 2130706431 192.0.2.2 40000 typ host'] });
    const back = parseSdpFrag(f);
    expect(back.ok && back.frag).toMatchObject({ ufrag: 'wxyz', endOfCandidates: true, candidates: [{ mid: '0' }] });
  });
});

describe('helpers', () => {
  it('Link headers carry STUN/TURN servers with credentials (RFC 9725 4.6)', () => {
    expect(iceServerLinks([{ urls: ['stun:stun.example.net', 'turn:turn.example.net?transport=udp'], username: 'u', credential: 'p"q' }])).toEqual([
      '<stun:stun.example.net>; rel="ice-server"; username="u"; credential="p\\"q"; credential-type="password"',
      '<turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p\\"q"; credential-type="password"',
    ]);
  });

  it('NTP timestamps from wall-clock ms (RFC 3550 4: seconds since 1900, 32.32 fixed point)', () => {
    const ntp = ntpFromMs(Date.UTC(2020, 0, 1) + 500);
    expect(Number(ntp >> 32n)).toBe(Date.UTC(2020, 0, 1) / 1000 + 2208988800);
    expect(Number(ntp & 0xffffffffn)).toBe(0x80000000);
  });
});
