import { describe, expect, it } from 'vitest';
import { H264Depacketizer, H264Packetizer, isH264Keyframe } from '../../../src/codecs/h264/index.ts';
import { splitAnnexB } from '../../../src/codecs/annexb.ts';
import type { Frame } from '../../../src/codecs/types.ts';
import { ffprobe, framesToAnnexB, loadCapture, runAll, toPacketIn } from './h26x-test-utils.ts';

const nalType = (n: Buffer) => n[0] & 0x1f;

describe('H.264 depacketizer on real x264 + rtph264pay captures', () => {
  const cases = [
    { file: 'h264_x264.rtp', width: 320, height: 240, profile: 'Constrained Baseline' },
    { file: 'h264_x264_stapa.rtp', width: 320, height: 240, profile: 'Constrained Baseline' },
    { file: 'h264_x264_640x360_fua.rtp', width: 640, height: 360, profile: 'High' },
  ];
  for (const c of cases) {
    it(`${c.file}: 30 decodable frames, 2 keyframes, params from in-band SPS`, () => {
      const d = new H264Depacketizer({ clockRate: 90000, fmtp: {} });
      const frames = runAll(d, loadCapture(c.file));
      expect(frames.length).toBe(30);
      expect(frames.filter((f) => f.keyframe).length).toBe(2); // num-buffers 30 / key-int-max 15
      expect(d.stats).toMatchObject({ framesOut: 30, framesDropped: 0, errors: 0 });
      // Timestamps strictly increase by one frame (90000/15, ±1 from rounding) each.
      for (let i = 1; i < frames.length; i++) expect(Math.abs(frames[i].timestamp - frames[i - 1].timestamp - 6000)).toBeLessThanOrEqual(1);

      const probe = ffprobe(framesToAnnexB(frames), 'h264');
      expect(probe).toMatchObject({ frames: 30, width: c.width, height: c.height, codec: 'h264', profile: c.profile });

      // Codec string computed independently from the first in-band SPS bytes 1..3.
      const sps = frames[0].data.find((n) => nalType(n) === 7)!;
      const p = d.params();
      expect(p.codecString).toBe(`avc1.${sps.subarray(1, 4).toString('hex')}`);
      expect(p.level).toBe(probe.level);
      expect(p).toMatchObject({ width: c.width, height: c.height, fps: 15 });
      expect(p.sps?.equals(sps)).toBe(true);
      expect((p.pps?.[0] ?? 0) & 0x1f).toBe(8);
      for (const f of frames) expect(f.keyframe).toBe(isH264Keyframe(f.data));
    });
  }

  it('marker-less capture still splits on timestamp change (all but the last AU)', () => {
    const pkts = loadCapture('h264_x264.rtp').map((p) => ({ ...p, marker: false }));
    const frames = runAll(new H264Depacketizer({ clockRate: 90000, fmtp: {} }), pkts);
    expect(frames.length).toBe(29);
  });
});

describe('H264Packetizer', () => {
  const reference = runAll(new H264Depacketizer({ clockRate: 90000, fmtp: {} }), loadCapture('h264_x264_640x360_fua.rtp'));

  it('round-trips the capture NAL for NAL, within the MTU', () => {
    const pz = new H264Packetizer({ payloadType: 96, ssrc: 0x1234, mtu: 1200, initialSequence: 65530 });
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: {} });
    const out: Frame[] = [];
    let maxLen = 0;
    let fuPackets = 0;
    let stapPackets = 0;
    let prevSeq = -1;
    for (const f of reference) {
      // Re-split from Annex-B so the packetizer input is what a file source would give.
      const pkts = pz.packetize(splitAnnexB(Buffer.concat(f.data.map((n) => Buffer.concat([Buffer.from([0, 0, 0, 1]), n])))), f.timestamp);
      pkts.forEach((b, k) => {
        maxLen = Math.max(maxLen, b.length);
        const p = toPacketIn(b);
        if (prevSeq >= 0) expect(p.sequenceNumber).toBe((prevSeq + 1) & 0xffff);
        prevSeq = p.sequenceNumber;
        expect(p.marker).toBe(k === pkts.length - 1);
        if ((p.payload[0] & 0x1f) === 28) fuPackets++;
        if ((p.payload[0] & 0x1f) === 24) stapPackets++;
        out.push(...d.push({ ...p, timestamp: f.timestamp }, false));
      });
    }
    expect(maxLen).toBeLessThanOrEqual(1212);
    expect(fuPackets).toBeGreaterThan(5);
    expect(stapPackets).toBeGreaterThan(0);
    expect(out.length).toBe(reference.length);
    out.forEach((f, i) => expect(f.data).toEqual(reference[i].data));
  });
});

describe('SPS change mid-stream (QUIRKS Q37)', () => {
  it('updates params and puts the new SPS before the next keyframe', () => {
    const a = runAll(new H264Depacketizer({ clockRate: 90000, fmtp: {} }), loadCapture('h264_x264.rtp'));
    const b = runAll(new H264Depacketizer({ clockRate: 90000, fmtp: {} }), loadCapture('h264_x264_640x360_fua.rtp'));
    // Second resolution continues on the same timestamps line, same SSRC, no new SDP.
    const pz = new H264Packetizer({ payloadType: 96, ssrc: 1, initialSequence: 0 });
    const d = new H264Depacketizer({ clockRate: 90000, fmtp: {} });
    const out: Frame[] = [];
    const seen: Array<{ w?: number; v: number }> = [];
    [...a, ...b].forEach((f, i) => {
      for (const pkt of pz.packetize(f.data, i * 6000)) out.push(...d.push(toPacketIn(pkt), false));
      seen.push({ w: d.params().width, v: d.paramsVersion });
    });
    expect(out.length).toBe(60);
    expect(seen[29].w).toBe(320);
    expect(seen[30].w).toBe(640);
    expect(seen[30].v).toBeGreaterThan(seen[29].v);
    expect(d.params()).toMatchObject({ width: 640, height: 360, codecString: expect.stringMatching(/^avc1\.64/) });
    const kf = out[30];
    expect(kf.keyframe).toBe(true);
    expect(kf.data.find((n) => nalType(n) === 7)?.equals(d.params().sps!)).toBe(true);
  });
});
