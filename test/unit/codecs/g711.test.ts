import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { G711Depacketizer } from '../../../src/codecs/g711/index.ts';
import { loadCapture, loadCaps, pkt, run, runAll } from './audio-mjpeg-helpers.ts';

/** Decodes G.711 bytes with ffmpeg and returns the number of 16-bit samples (all channels) it produced. */
function decodedSamples(format: 'alaw' | 'mulaw', data: Buffer, rate = 8000, channels = 1): number {
  const r = run('ffmpeg', ['-v', 'error', '-f', format, '-ar', String(rate), '-ac', String(channels), '-i', '-', '-f', 's16le', '-'], data);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.length / 2;
}

describe('G711Depacketizer', () => {
  for (const [name, codec, format, codecString] of [
    ['pcma', 'PCMA', 'alaw', 'alaw'],
    ['pcmu', 'PCMU', 'mulaw', 'ulaw'],
  ] as const) {
    it(`depacketizes the GStreamer ${codec} capture into audio ffmpeg decodes`, () => {
      const caps = loadCaps(name);
      expect(caps['encoding-name']).toBe(codec);
      const d = new G711Depacketizer(codec, { clockRate: Number(caps['clock-rate']), fmtp: {} });
      const frames = runAll(d, loadCapture(`${name}.rtp`));
      expect(frames.length).toBe(20);
      for (let i = 1; i < frames.length; i++) expect(frames[i]!.timestamp - frames[i - 1]!.timestamp).toBe(160);
      expect(d.samplesOut).toBe(3200);
      expect(d.params()).toEqual({ codecString, sampleRate: 8000, channels: 1 });
      const pcm = Buffer.concat(frames.map((f) => f.data[0]!));
      expect(decodedSamples(format, pcm)).toBe(3200);
    });
  }

  it('takes samples per packet from the payload length: 20, 40 and 160 ms packets (QUIRKS Q42)', () => {
    const ulaw = Buffer.concat(runAll(new G711Depacketizer('PCMU', { clockRate: 8000, fmtp: {} }), loadCapture('pcmu.rtp')).map((f) => f.data[0]!));
    for (const ms of [20, 40, 160]) {
      const per = ms * 8;
      const d = new G711Depacketizer('PCMU', { clockRate: 8000, fmtp: {} });
      const out = [];
      for (let off = 0, ts = 0; off + per <= ulaw.length; off += per, ts += per) out.push(...d.push(pkt(ts, ulaw.subarray(off, off + per)), false));
      const expected = Math.floor(ulaw.length / per) * per;
      expect(d.samplesOut).toBe(expected);
      expect(out.map((f) => f.data[0]!.length)).toEqual(new Array(Math.floor(ulaw.length / per)).fill(per));
      expect(decodedSamples('mulaw', Buffer.concat(out.map((f) => f.data[0]!)))).toBe(expected);
    }
  });

  it('respects PCMA/16000 and PCMA/8000/2 from the rtpmap (gortsplib@0b6fda2a, QUIRKS Q42)', () => {
    const wide = new G711Depacketizer('PCMA', { clockRate: 16000, fmtp: {} });
    expect(wide.params()).toEqual({ codecString: 'alaw', sampleRate: 16000, channels: 1 });
    wide.push(pkt(0, Buffer.alloc(320, 0xd5)), false);
    expect(wide.samplesOut).toBe(320); // 20 ms at 16 kHz

    const stereo = new G711Depacketizer('PCMA', { clockRate: 8000, channels: 2, fmtp: {} });
    expect(stereo.params()).toEqual({ codecString: 'alaw', sampleRate: 8000, channels: 2 });
    const f = stereo.push(pkt(0, Buffer.alloc(320, 0xd5)), false);
    expect(f.length).toBe(1);
    expect(stereo.samplesOut).toBe(160);
    expect(decodedSamples('alaw', f[0]!.data[0]!, 8000, 2)).toBe(320);
    // Half a stereo sample can't be right.
    expect(stereo.push(pkt(160, Buffer.alloc(321)), false)).toEqual([]);
    expect(stereo.stats.errors).toBe(1);
  });

  it('never throws on random payloads', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 3 }), (bytes, ch) => {
        const d = new G711Depacketizer(ch % 2 ? 'PCMA' : 'PCMU', { clockRate: 8000, channels: ch, fmtp: {} });
        const out = d.push(pkt(0, Buffer.from(bytes)), false);
        expect(out.length).toBeLessThanOrEqual(1);
        if (out.length) expect(out[0]!.data[0]!.length).toBe(bytes.length);
      }),
    );
  });
});
