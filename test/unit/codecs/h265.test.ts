import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { H265Depacketizer, H265Packetizer, h265CodecString, isH265Keyframe, parseH265Sps } from '../../../src/codecs/h265/index.ts';
import { joinAnnexB } from '../../../src/codecs/annexb.ts';
import type { Frame, RtpPacketIn } from '../../../src/codecs/types.ts';
import { FIXTURES, ffprobe, framesToAnnexB, loadCapture, rbsp, runAll, toPacketIn } from './h26x-test-utils.ts';

const nalType = (n: Buffer) => (n[0] >> 1) & 0x3f;
const newDepack = (fmtp: Record<string, string> = {}) => new H265Depacketizer({ clockRate: 90000, fmtp });

/** hvc1 codec string computed from raw SPS bytes, independently of parseH265Sps. */
function expectedCodecString(sps: Buffer): string {
  const b = rbsp(sps);
  const space = b[3] >> 6;
  const tier = (b[3] >> 5) & 1;
  const profile = b[3] & 0x1f;
  const compat = b.readUInt32BE(4);
  let rev = 0;
  for (let j = 0; j < 32; j++) if (compat & (1 << (31 - j))) rev |= 1 << j;
  const cons = [...b.subarray(8, 14)];
  while (cons.length && cons[cons.length - 1] === 0) cons.pop();
  return [`hvc1`, `${['', 'A', 'B', 'C'][space]}${profile}`, (rev >>> 0).toString(16).toUpperCase(), `${tier ? 'H' : 'L'}${b[14]}`, ...cons.map((c) => c.toString(16).toUpperCase())].join('.');
}

describe('H.265 depacketizer on real x265 + rtph265pay captures', () => {
  for (const file of ['h265_x265.rtp', 'h265_x265_ap.rtp']) {
    it(`${file}: 30 decodable frames, 2 IRAP, params from in-band VPS/SPS/PPS`, () => {
      const d = newDepack();
      const pkts = loadCapture(file);
      if (file.endsWith('_ap.rtp')) expect(pkts.some((p) => nalType(p.payload) === 48)).toBe(true);
      const frames = runAll(d, pkts);
      expect(frames.length).toBe(30);
      expect(frames.filter((f) => f.keyframe).length).toBe(2);
      expect(d.stats).toMatchObject({ framesOut: 30, framesDropped: 0, errors: 0 });
      expect(ffprobe(framesToAnnexB(frames), 'hevc')).toMatchObject({ frames: 30, width: 320, height: 240, codec: 'hevc', profile: 'Main' });
      const sps = frames[0].data.find((n) => nalType(n) === 33)!;
      const p = d.params();
      expect(p).toMatchObject({ width: 320, height: 240, fps: 15, codecString: expectedCodecString(sps) });
      expect(p.codecString).toMatch(/^hvc1\.1\.6\.L\d+/);
      expect(nalType(p.vps!)).toBe(32);
      expect(nalType(p.pps!)).toBe(34);
      for (const f of frames) expect(f.keyframe).toBe(isH265Keyframe(f.data));
    });
  }
});

const REF = runAll(newDepack(), loadCapture('h265_x265.rtp'));
const AUS = REF.map((f) => f.data);

describe('H265Packetizer', () => {
  it('round-trips the capture with AP for VPS/SPS/PPS and FUs, within the MTU', () => {
    const pz = new H265Packetizer({ payloadType: 96, ssrc: 7, mtu: 1200, initialSequence: 65535 });
    const d = newDepack();
    const out: Frame[] = [];
    const types = new Set<number>();
    let maxLen = 0;
    AUS.forEach((au, i) => {
      for (const b of pz.packetize(au, i * 6000)) {
        maxLen = Math.max(maxLen, b.length);
        const p = toPacketIn(b);
        types.add(nalType(p.payload));
        out.push(...d.push(p, false));
      }
    });
    expect(maxLen).toBeLessThanOrEqual(1212);
    expect(types.has(48) && types.has(49)).toBe(true);
    expect(out.length).toBe(30);
    out.forEach((f, i) => expect(f.data).toEqual(AUS[i]));
  });
});

interface Knobs { donl?: boolean; fuStartEndSingle?: boolean; paci?: boolean; mtu?: number; annexBInsideFU?: boolean }

/** Test packetizer: AP for small NALs, FU for big ones, with DONL/DOND (RFC 7798) and other knobs. */
function craft(aus: Buffer[][], k: Knobs = {}): RtpPacketIn[] {
  const mtu = k.mtu ?? 1200;
  const out: RtpPacketIn[] = [];
  let seq = 0;
  let don = 0;
  const u16 = (v: number) => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
  aus.forEach((au, i) => {
    const payloads: Buffer[] = [];
    if (k.paci) payloads.push(Buffer.from([50 << 1, 1, 0, 0, 0x26, 1, 0xaa]));
    const fu = (nal: Buffer) => {
      const h0 = (nal[0] & 0x81) | (49 << 1);
      const chunk = k.fuStartEndSingle ? nal.length : mtu - 5;
      for (let off = 2; off < nal.length; off += chunk) {
        const s = off === 2;
        const e = off + chunk >= nal.length;
        const hdr = Buffer.from([h0, nal[1], (s ? 0x80 : 0) | (e ? 0x40 : 0) | nalType(nal)]);
        // DONL only in the first fragment (RFC 7798 4.4.3).
        payloads.push(Buffer.concat([hdr, s && k.donl ? u16(don) : Buffer.alloc(0), nal.subarray(off, off + chunk)]));
      }
      don++;
    };
    if (k.annexBInsideFU) {
      fu(joinAnnexB(au).subarray(4));
    } else {
      const small = au.filter((n) => n.length < 300);
      const big = au.filter((n) => n.length >= 300);
      if (small.length >= 2) {
        const parts: Buffer[] = [Buffer.from([48 << 1, 1])];
        small.forEach((n, j) => {
          if (k.donl) parts.push(j === 0 ? u16(don) : Buffer.from([0])); // DOND = difference - 1 = 0
          parts.push(u16(n.length), n);
          don++;
        });
        payloads.push(Buffer.concat(parts));
      } else {
        for (const n of small) {
          payloads.push(k.donl ? Buffer.concat([n.subarray(0, 2), u16(don), n.subarray(2)]) : n);
          don++;
        }
      }
      for (const n of big) {
        if (n.length <= mtu && !k.fuStartEndSingle) {
          payloads.push(k.donl ? Buffer.concat([n.subarray(0, 2), u16(don), n.subarray(2)]) : n);
          don++;
        } else fu(n);
      }
    }
    payloads.forEach((p, j) => out.push({ payloadType: 96, sequenceNumber: seq++, timestamp: i * 6000, marker: j === payloads.length - 1, payload: p }));
  });
  return out;
}

function expectSame(knobs: Knobs, fmtp: Record<string, string> = {}) {
  const d = newDepack(fmtp);
  const frames = runAll(d, craft(AUS, knobs));
  expect(frames.length).toBe(30);
  frames.forEach((f, i) => expect(f.data).toEqual(AUS[i]));
  return d;
}

describe('H.265 quirks (QUIRKS Q38)', () => {
  it('AP carrying VPS/SPS/PPS, FU for slices', () => {
    const pkts = craft(AUS);
    const ap = pkts.find((p) => nalType(p.payload) === 48)!;
    expect(ap).toBeDefined();
    expectSame({});
  });
  // OpenIPC: FU with S and E both set.
  it('accepts single-fragment FU (S+E)', () => expectSame({ fuStartEndSingle: true }));
  // Amatek: several NAL units separated by start codes in one FU.
  it('splits Annex-B inside a reassembled FU', () => expectSame({ annexBInsideFU: true, mtu: 600 }));
  it('DONL/DOND with sprop-max-don-diff=2', () => {
    const d = expectSame({ donl: true, mtu: 500 }, { 'sprop-max-don-diff': '2' });
    expect(d.usingDonl).toBe(true);
    expect(d.stats.errors).toBe(0);
  });
  it('the same DONL stream without the fmtp is not decodable as-is (the fields matter)', () => {
    const frames = runAll(newDepack(), craft(AUS, { donl: true }));
    const same = frames.length === 30 && frames.every((f, i) => f.data.length === AUS[i].length && f.data.every((n, j) => n.equals(AUS[i][j])));
    expect(same).toBe(false);
  });
  it('PACI packets are skipped without losing frames', () => {
    const d = expectSame({ paci: true });
    expect(d.stats.errors).toBe(30);
    expect(d.stats.lastError).toMatch(/PACI/);
  });
  it('loss mid-FU drops frames until the next IRAP', () => {
    const pkts = craft(AUS, { mtu: 200 });
    const idx = pkts.findIndex((p) => p.timestamp === 4 * 6000 && nalType(p.payload) === 49 && (p.payload[2] & 0xc0) === 0);
    const d = newDepack();
    const frames = runAll(d, pkts.filter((_, i) => i !== idx), new Set([idx]));
    expect(frames.length).toBe(4 + 15);
    expect(frames[4].keyframe).toBe(true);
    expect(d.stats.framesDropped).toBe(11);
  });
});

describe('H.265 parameter sets', () => {
  const describeFmtp = (file: string) => {
    const line = readFileSync(path.join(FIXTURES, 'rtsp-responses', file), 'latin1').split(/\r?\n/).find((l) => l.startsWith('a=fmtp:') && l.includes('sprop-'))!;
    const fmtp: Record<string, string> = {};
    for (const kv of line.replace(/^a=fmtp:\d+\s*/, '').split(';')) {
      const i = kv.indexOf('=');
      if (i > 0) fmtp[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1).trim();
    }
    return fmtp;
  };
  // Values cross-checked with GStreamer h265parse.
  it('Dahua sprop-vps/sps/pps: 704x480 Main, 12 fps', () => {
    const fmtp = describeFmtp('dahua_describe_h265_pcma.txt');
    const p = newDepack(fmtp).params();
    expect(p).toMatchObject({ width: 704, height: 480, fps: 12, profile: 1, level: 90, codecString: 'hvc1.1.6.L90.B0' });
    expect(p.codecString).toBe(expectedCodecString(Buffer.from(fmtp['sprop-sps'], 'base64')));
  });
  it('TP-Link sprop: 2560x1440 Main, 15 fps', () => {
    const p = newDepack(describeFmtp('tplink_sdp.txt')).params();
    expect(p).toMatchObject({ width: 2560, height: 1440, fps: 15, codecString: 'hvc1.1.6.L150' });
  });
  it('Anjvision fmtp with H.264 keys (packetization-mode, config=) is accepted', () => {
    const p = newDepack(describeFmtp('anjvision_describe.txt')).params();
    expect(p.width).toBe(1280);
    expect(p.vps && p.sps && p.pps).toBeTruthy();
  });
  it('missing/garbage sprop and H.264 fmtp on an H.265 track (Ezviz C6N): in-band sets win, IRAPs get VPS/SPS/PPS', () => {
    const d = newDepack({ 'sprop-vps': 'Zm9v', 'sprop-sps': 'AAAAAUIB', 'profile-level-id': '420029', 'sprop-parameter-sets': '' });
    expect(d.params().sps).toBeUndefined();
    // Strip parameter sets from every AU but the first: the second IRAP must get them back.
    const stripped = AUS.map((au, i) => (i === 0 ? au : au.filter((n) => ![32, 33, 34].includes(nalType(n)))));
    const frames = runAll(d, craft(stripped));
    expect(frames.length).toBe(30);
    expect(frames[15].keyframe).toBe(true);
    expect(frames[15].data.slice(0, 4).map(nalType).filter((t) => t >= 32 && t <= 34)).toEqual([32, 33, 34]);
    expect(ffprobe(framesToAnnexB(frames.slice(15)), 'hevc').frames).toBe(15);
    expect(d.params()).toMatchObject({ width: 320, height: 240 });
  });
  it('parseH265Sps rejects garbage and non-SPS without throwing', () => {
    expect(parseH265Sps(Buffer.from([0x40, 0x01, 1, 2, 3])).ok).toBe(false);
    expect(parseH265Sps(Buffer.alloc(40, 0xff)).ok).toBe(false);
    const sps = AUS[0].find((n) => nalType(n) === 33)!;
    const r = parseH265Sps(Buffer.concat([sps, Buffer.from([0x55])]));
    expect(r.ok && h265CodecString(r.value)).toBe(expectedCodecString(sps));
  });
});
