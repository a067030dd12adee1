// Regression tests for QUIRKS Q35/Q36 (H.264), with a deliberately non-conformant test packetizer.
import { describe, expect, it } from 'vitest';
import { H264Depacketizer, MAX_AU_BYTES } from '../../../src/codecs/h264/index.ts';
import { joinAnnexB } from '../../../src/codecs/annexb.ts';
import type { RtpPacketIn } from '../../../src/codecs/types.ts';
import { ffprobe, framesToAnnexB, loadCapture, runAll } from './h26x-test-utils.ts';

const nalType = (n: Buffer) => n[0] & 0x1f;
const reference = runAll(new H264Depacketizer({ clockRate: 90000, fmtp: {} }), loadCapture('h264_x264.rtp'));
const AUS = reference.map((f) => f.data);
const SPS = AUS[0].find((n) => nalType(n) === 7)!;
const PPS = AUS[0].find((n) => nalType(n) === 8)!;

interface Knobs {
  mtu?: number;
  /** Every NAL as an FU-A with S and E both set (CostarHD). */
  fuStartEndSingle?: boolean;
  /** The whole AU as Annex-B inside one FU-A sequence (Amatek). */
  annexBInsideFU?: boolean;
  /** The whole AU as Annex-B in one single-NAL packet (WebRTC#391). */
  annexBSingle?: boolean;
  /** R bit in every FU header (Longse). */
  setReservedBit?: boolean;
  /** Small NALs in STAP-A with zero-length entries and trailing zero padding. */
  stapPadding?: boolean;
  /** Marker bit on SPS/PPS/SEI/AUD packets (Tapo TC70, RtspServer, H264DVR). */
  markerOnParamSets?: boolean;
  noMarker?: boolean;
  /** A NAL of reserved type 30 before every AU. */
  nal30?: boolean;
}

/** Packetizes AUs (one per 6000 ticks) into RtpPacketIn with the given misbehaviours. */
function craft(aus: Buffer[][], k: Knobs = {}): RtpPacketIn[] {
  const mtu = k.mtu ?? 1200;
  const out: RtpPacketIn[] = [];
  let seq = 100;
  aus.forEach((au, i) => {
    const ts = 1000 + i * 6000;
    const payloads: Array<{ p: Buffer; paramSet: boolean }> = [];
    const fu = (nal: Buffer) => {
      const ind = (nal[0] & 0xe0) | 28;
      const r = k.setReservedBit ? 0x20 : 0;
      if (k.fuStartEndSingle) {
        payloads.push({ p: Buffer.concat([Buffer.from([ind, 0xc0 | r | nalType(nal)]), nal.subarray(1)]), paramSet: false });
        return;
      }
      const chunk = mtu - 2;
      for (let off = 1; off < nal.length; off += chunk) {
        const s = off === 1 ? 0x80 : 0;
        const e = off + chunk >= nal.length ? 0x40 : 0;
        payloads.push({ p: Buffer.concat([Buffer.from([ind, s | e | r | nalType(nal)]), nal.subarray(off, off + chunk)]), paramSet: false });
      }
    };
    if (k.nal30) payloads.push({ p: Buffer.from([0x1e, 1, 2, 3]), paramSet: true });
    if (k.annexBSingle) {
      payloads.push({ p: joinAnnexB(au), paramSet: false });
    } else if (k.annexBInsideFU) {
      fu(joinAnnexB(au).subarray(4));
    } else if (k.stapPadding) {
      const small = au.filter((n) => n.length < 200);
      const big = au.filter((n) => n.length >= 200);
      const parts: Buffer[] = [Buffer.from([24])];
      for (const n of small) parts.push(Buffer.from([0, 0]), Buffer.from([n.length >> 8, n.length & 0xff]), n);
      parts.push(Buffer.from([0, 0, 0, 0, 0]));
      payloads.push({ p: Buffer.concat(parts), paramSet: big.length > 0 });
      for (const n of big) n.length > mtu ? fu(n) : payloads.push({ p: n, paramSet: false });
    } else {
      for (const n of au) {
        if (!k.fuStartEndSingle && n.length <= mtu) payloads.push({ p: n, paramSet: [6, 7, 8, 9].includes(nalType(n)) });
        else fu(n);
      }
    }
    payloads.forEach(({ p, paramSet }, j) => {
      const last = j === payloads.length - 1;
      const marker = !k.noMarker && (last || (!!k.markerOnParamSets && paramSet));
      out.push({ payloadType: 96, sequenceNumber: seq++ & 0xffff, timestamp: ts, marker, payload: p });
    });
  });
  return out;
}

function expectSameAus(knobs: Knobs) {
  const d = new H264Depacketizer({ clockRate: 90000, fmtp: {} });
  const frames = runAll(d, craft(AUS, knobs));
  expect(frames.length).toBe(AUS.length);
  frames.forEach((f, i) => expect(f.data).toEqual(AUS[i]));
  return d;
}

describe('H.264 packetization quirks (QUIRKS Q36)', () => {
  it('baseline: the test packetizer itself round-trips', () => {
    expect(AUS.length).toBe(30);
    expectSameAus({ mtu: 300 });
  });
  // CostarHD: FU-A with both S and E set (gortsplib#649).
  it('accepts single-fragment FU-A (S+E)', () => expectSameAus({ fuStartEndSingle: true }));
  // Amatek AR-N3222F: several NAL units separated by start codes inside one FU-A (gortsplib#989).
  it('splits Annex-B inside a reassembled FU-A', () => expectSameAus({ annexBInsideFU: true, mtu: 500 }));
  // WebRTC#391: SPS+PPS+IDR with start codes in one packet.
  it('splits an Annex-B stream in a single-NAL packet', () => expectSameAus({ annexBSingle: true }));
  // Longse CMSEKL800: FU-A reserved bit set.
  it('ignores the FU-A R bit', () => expectSameAus({ setReservedBit: true, mtu: 400 }));
  // gortsplib isAllZero: zero-length STAP-A entries and padding.
  it('skips zero-length STAP-A entries and trailing padding', () => {
    const d = expectSameAus({ stapPadding: true });
    expect(d.stats.errors).toBe(0);
  });
  // Tapo TC70 / Reolink Duo 2 / H264DVR: marker on SPS/PPS/SEI/AUD must not end the AU.
  it('does not end an AU on a marked parameter set, SEI or AUD', () => expectSameAus({ markerOnParamSets: true }));
  // go2rtc#1570: reserved NAL types are dropped without error.
  it('drops NAL type 30 packets', () => expectSameAus({ nal30: true }));
  // FLIR M400: no marker at all; AUs split by timestamp change, the last one waits for the next.
  it('splits AUs on timestamp change when markers are missing', () => {
    const frames = runAll(new H264Depacketizer({ clockRate: 90000, fmtp: {} }), craft(AUS, { noMarker: true }));
    expect(frames.length).toBe(29);
    frames.forEach((f, i) => expect(f.data).toEqual(AUS[i]));
  });
});

describe('loss and broken fragments', () => {
  it('loss mid-FU drops the AU and everything until the next IDR', () => {
    const pkts = craft(AUS, { mtu: 300 });
    // Lose a middle fragment of frame 3 (a P frame split into several FU-As at mtu 300).
    const f3 = pkts.map((p, i) => ({ p, i })).filter(({ p }) => p.timestamp === 1000 + 3 * 6000);
    expect(f3.length).toBeGreaterThan(3);
    const lost = f3[2].i;
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: {} });
    const frames = runAll(d, pkts.filter((_, i) => i !== lost), new Set([lost]));
    expect(frames.length).toBe(3 + 15); // frames 0..2, then 15..29 from the second IDR
    expect(frames[3].keyframe).toBe(true);
    expect(frames[3].data).toEqual(AUS[15]);
    expect(d.stats.framesDropped).toBe(12); // frames 3..14
    expect(ffprobe(framesToAnnexB(frames), 'h264').frames).toBe(18);
  });

  it('an FU start without end followed by another start is a broken FU (no loss reported)', () => {
    const pkts = craft(AUS.slice(0, 16), { mtu: 300 });
    const f2 = pkts.filter((p) => p.timestamp === 1000 + 2 * 6000);
    const endIdx = pkts.indexOf(f2.find((p) => p.payload[0] % 32 === 28 && (p.payload[1] & 0x40) !== 0)!);
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: {} });
    const frames = runAll(d, pkts.filter((_, i) => i !== endIdx));
    expect(frames.length).toBe(2 + 1); // frames 0, 1 and the IDR at 15
    expect(d.stats.errors).toBeGreaterThan(0);
  });

  it('resets when an access unit grows past the cap (lost markers)', () => {
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: {} });
    const chunk = Buffer.alloc(60000, 0x55);
    d.push({ payloadType: 96, sequenceNumber: 0, timestamp: 0, marker: false, payload: Buffer.concat([Buffer.from([0x7c, 0x85]), chunk]) }, false);
    for (let i = 1; i < 200; i++) {
      d.push({ payloadType: 96, sequenceNumber: i, timestamp: 0, marker: false, payload: Buffer.concat([Buffer.from([0x7c, 0x05]), chunk]) }, false);
      expect(d.bufferedBytes).toBeLessThanOrEqual(MAX_AU_BYTES);
    }
    expect(d.stats.errors).toBeGreaterThan(0);
    expect(d.stats.lastError).toMatch(/cap|without start/);
  });
});

describe('parameter sets (QUIRKS Q35)', () => {
  const strip = (aus: Buffer[][]) => aus.map((au) => au.filter((n) => ![7, 8].includes(nalType(n))));
  const b64 = (b: Buffer) => b.toString('base64');

  it('puts SPS/PPS from sprop in front of IDRs that lack them; ffprobe decodes all frames', () => {
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: { 'sprop-parameter-sets': `${b64(SPS)},${b64(PPS)}` } });
    expect(d.params()).toMatchObject({ width: 320, height: 240, fps: 15 });
    const frames = runAll(d, craft(strip(AUS)));
    expect(frames.length).toBe(30);
    const kf = frames.filter((f) => f.keyframe);
    expect(kf.length).toBe(2);
    for (const f of kf) expect(f.data.slice(0, 3).map(nalType)).toEqual([9, 7, 8]); // after the AUD
    expect(ffprobe(framesToAnnexB(frames), 'h264')).toMatchObject({ frames: 30, width: 320, height: 240 });
  });

  it('sprop sets wrapped in Annex-B start codes are stripped (GW Security, Revotech)', () => {
    const wrapped = (b: Buffer) => b64(Buffer.concat([Buffer.from([0, 0, 0, 1]), b, Buffer.from([0, 0, 0, 1])]));
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: { 'sprop-parameter-sets': `${wrapped(SPS)},${wrapped(PPS)}` } });
    expect(d.params().sps?.equals(SPS)).toBe(true);
    expect(d.params().pps?.equals(PPS)).toBe(true);
  });

  it('garbage sprop is ignored and in-band sets are learned (VStarcam)', () => {
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: { 'sprop-parameter-sets': 'Zm9vYmFy,!!!,AAAA', 'profile-level-id': 'TQAf' } });
    expect(d.params().sps).toBeUndefined();
    expect(d.params().codecString).toBeUndefined();
    const frames = runAll(d, craft(AUS));
    expect(frames.length).toBe(30);
    expect(d.params()).toMatchObject({ width: 320, height: 240, codecString: 'avc1.42c00c' });
  });

  it('empty sprop, missing PPS, and SPS only in-band (Reolink, Hikvision)', () => {
    expect(new H264Depacketizer({ clockRate: 90000, fmtp: { 'sprop-parameter-sets': '' } }).params()).toEqual({});
    const onlySps = new H264Depacketizer({ clockRate: 90000, fmtp: { 'sprop-parameter-sets': 'Z00AKZpkA8ARPyzUBAQFAAADA+gAAOpgBA==,' } });
    expect(onlySps.params()).toMatchObject({ width: 1920, height: 1080, codecString: 'avc1.4d0029' });
    expect(onlySps.params().pps).toBeUndefined();
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: {}, dimensions: { width: 1, height: 2 } });
    expect(d.params()).toEqual({ width: 1, height: 2 });
    runAll(d, craft(AUS.slice(0, 2)));
    expect(d.params()).toMatchObject({ width: 320, height: 240 });
  });

  it('in-band SPS wins over sprop from the SDP', () => {
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: { 'sprop-parameter-sets': 'Z00AKZpkA8ARPyzUBAQFAAADA+gAAOpgBA==,aO48gA==' } });
    expect(d.params().width).toBe(1920);
    runAll(d, craft(AUS.slice(0, 1)));
    expect(d.params()).toMatchObject({ width: 320, height: 240 });
    expect(d.params().pps?.equals(PPS)).toBe(true);
  });
});
