import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OpusDepacketizer, opusPacketDuration } from '../../../src/codecs/opus/index.ts';
import { loadCapture, loadCaps, pkt, runAll } from './audio-mjpeg-helpers.ts';

describe('opusPacketDuration (RFC 6716 §3.1)', () => {
  it('derives durations from the TOC byte and frame count', () => {
    expect(opusPacketDuration(Buffer.from([0xfc, 1, 2]))).toBe(960); // config 31 CELT 20 ms, code 0
    expect(opusPacketDuration(Buffer.from([0x08 << 3]))).toBe(480); // config 8 SILK 10 ms
    expect(opusPacketDuration(Buffer.from([(3 << 3) | 0]))).toBe(2880); // SILK 60 ms
    expect(opusPacketDuration(Buffer.from([(16 << 3) | 1, 1, 2]))).toBe(240); // CELT 2.5 ms × 2
    expect(opusPacketDuration(Buffer.from([(16 << 3) | 1, 1]))).toBe(0); // code 1 with odd length
    expect(opusPacketDuration(Buffer.from([(13 << 3) | 2, 1, 9, 9]))).toBe(1920); // hybrid 20 ms × 2
    expect(opusPacketDuration(Buffer.from([(13 << 3) | 2, 5, 9]))).toBe(0); // first frame overruns
    expect(opusPacketDuration(Buffer.from([(31 << 3) | 3, 6]))).toBe(5760); // 6 × 20 ms = 120 ms
    expect(opusPacketDuration(Buffer.from([(31 << 3) | 3, 7]))).toBe(0); // over 120 ms
    expect(opusPacketDuration(Buffer.from([(31 << 3) | 3, 0]))).toBe(0); // zero frames
    expect(opusPacketDuration(Buffer.from([(31 << 3) | 3]))).toBe(0);
    expect(opusPacketDuration(Buffer.alloc(0))).toBe(0);
  });
});

describe('OpusDepacketizer', () => {
  it('depacketizes the opusenc capture: one frame per packet, 20 ms at 48 kHz, stereo', () => {
    const caps = loadCaps('opus_stereo');
    const d = new OpusDepacketizer({ clockRate: Number(caps['clock-rate']), channels: 2, fmtp: caps });
    const packets = loadCapture('opus_stereo.rtp');
    const frames = runAll(d, packets);
    // 50 input buffers of 20 ms; opusenc flushes one more packet for its lookahead.
    expect(packets.length).toBe(51);
    expect(frames.length).toBe(51);
    expect(frames.every((f) => opusPacketDuration(f.data[0]!) === 960)).toBe(true);
    // opusenc stamps its first packet 312 samples (the pre-skip) late; from then on 20 ms steps.
    expect(frames[1]!.timestamp - frames[0]!.timestamp).toBe(960 - 312);
    for (let i = 2; i < frames.length; i++) expect(frames[i]!.timestamp - frames[i - 1]!.timestamp).toBe(960);
    expect(d.samplesOut).toBe(51 * 960);
    expect(d.clockRate).toBe(48000);
    expect(d.params()).toEqual({ codecString: 'opus', sampleRate: 48000, channels: 2 });
    expect(d.stats.errors).toBe(0);
  });

  it('ignores OPUS/48000/1 and OPUS/16000 rtpmaps: 48 kHz clock, channels from the TOC (go2rtc#1506, QUIRKS Q43)', () => {
    const stereoPackets = loadCapture('opus_stereo.rtp');
    const d = new OpusDepacketizer({ clockRate: 48000, channels: 1, fmtp: {} });
    expect(d.params().channels).toBe(1); // nothing seen yet, no sprop-stereo
    runAll(d, stereoPackets);
    expect(d.params()).toEqual({ codecString: 'opus', sampleRate: 48000, channels: 2 });

    const d16 = new OpusDepacketizer({ clockRate: 16000, channels: 1, fmtp: {} });
    expect(d16.clockRate).toBe(48000);
    const mono = d16.push(pkt(0, Buffer.from([0xf8, 0xff, 0xfe])), false); // CELT 20 ms, mono TOC
    expect(mono.length).toBe(1);
    expect(d16.params()).toEqual({ codecString: 'opus', sampleRate: 48000, channels: 1 });

    const sprop = new OpusDepacketizer({ clockRate: 48000, channels: 2, fmtp: { 'sprop-stereo': '1' } });
    expect(sprop.params().channels).toBe(2);
  });

  it('drops malformed packets and never throws on random input', () => {
    const d = new OpusDepacketizer({ clockRate: 48000, fmtp: {} });
    expect(d.push(pkt(0, Buffer.alloc(0)), false)).toEqual([]);
    expect(d.stats.errors).toBe(1);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
        const out = d.push(pkt(0, Buffer.from(bytes)), false);
        expect(out.length).toBe(opusPacketDuration(Buffer.from(bytes)) > 0 ? 1 : 0);
      }),
    );
  });
});
