import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { h264CodecString, parseH264Sps, decodeSpropNalus } from '../../../src/codecs/h264/index.ts';
import { BitReader, unescapeRbsp } from '../../../src/codecs/bitreader.ts';
import { joinAnnexB, splitAnnexB, toLengthPrefixed } from '../../../src/codecs/annexb.ts';
import { FIXTURES } from './h26x-test-utils.ts';

/** First SPS from a DESCRIBE capture's sprop-parameter-sets. */
function spsFromDescribe(file: string): Buffer {
  const text = readFileSync(path.join(FIXTURES, 'rtsp-responses', file), 'latin1');
  const m = /sprop-parameter-sets=([^;\s]*)/.exec(text);
  return decodeSpropNalus(m![1])[0];
}

describe('parseH264Sps on camera SPS (values cross-checked with GStreamer h264parse)', () => {
  const cases = [
    { file: 'hikvision_describe.txt', profile: 77, level: 41, width: 1920, height: 1080, fps: 30, codec: 'avc1.4d0029' },
    { file: 'dahua_describe_h264_aac_onvif.txt', profile: 100, level: 30, width: 704, height: 480, fps: 15, codec: 'avc1.64001e' },
    // Reolink: a 10-byte SPS that ends right after the frame size fields (no VUI).
    { file: 'reolink_describe.txt', profile: 100, level: 51, width: 2560, height: 1440, fps: undefined, codec: 'avc1.640033' },
    // GW Security: Annex-B start code appended inside the base64.
    { file: 'gw_main_describe.txt', profile: 77, level: 42, width: 1920, height: 1080, fps: undefined, codec: 'avc1.4d002a' },
    { file: 'vstarcam_describe.txt', profile: 77, level: 42, width: 1920, height: 1080, fps: 7.5, codec: 'avc1.4d002a' },
  ];
  for (const c of cases) {
    it(c.file, () => {
      const sps = spsFromDescribe(c.file);
      const r = parseH264Sps(sps);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.value).toMatchObject({ profileIdc: c.profile, levelIdc: c.level, width: c.width, height: c.height });
      expect(r.value.fps).toBe(c.fps);
      expect(h264CodecString(sps)).toBe(c.codec);
    });
  }

  it('frame cropping: 1080p is coded as 1088 lines and cropped', () => {
    const r = parseH264Sps(spsFromDescribe('hikvision_describe.txt'));
    expect(r.ok && r.value.height).toBe(1080);
  });

  it('tolerates a stray trailing byte after the SPS (Reolink, QUIRKS Q35)', () => {
    const sps = spsFromDescribe('vstarcam_describe.txt');
    for (const extra of [[0x00], [0x55], [0x80, 0x00, 0x00]]) {
      const r = parseH264Sps(Buffer.concat([sps, Buffer.from(extra)]));
      expect(r.ok && r.value.width).toBe(1920);
    }
  });

  it('rejects non-SPS, truncated and garbage input without throwing', () => {
    expect(parseH264Sps(Buffer.from([0x68, 0xee, 0x3c, 0x80])).ok).toBe(false); // a PPS
    expect(parseH264Sps(Buffer.from([0x67, 0x64])).ok).toBe(false);
    const sps = spsFromDescribe('hikvision_describe.txt');
    expect(parseH264Sps(sps.subarray(0, 6)).ok).toBe(false);
    expect(parseH264Sps(Buffer.from([0x67, 0x64, 0, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0])).ok).toBe(false);
  });
});

describe('annexb', () => {
  it('splits 3- and 4-byte start codes, keeps a leading unit, strips trailing zeros', () => {
    const buf = Buffer.from([0x09, 0xf0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 0]);
    expect(splitAnnexB(buf)).toEqual([Buffer.from([0x09, 0xf0]), Buffer.from([0x67, 1, 2]), Buffer.from([0x68, 3]), Buffer.from([0x65, 4])]);
    expect(splitAnnexB(Buffer.from([0, 0, 0, 1]))).toEqual([]);
    expect(splitAnnexB(Buffer.from([0x41, 1, 2]))).toEqual([Buffer.from([0x41, 1, 2])]);
  });
  it('joins and length-prefixes', () => {
    const n = [Buffer.from([0x67, 1]), Buffer.from([0x68])];
    expect(joinAnnexB(n)).toEqual(Buffer.from([0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68]));
    expect(toLengthPrefixed(n)).toEqual(Buffer.from([0, 0, 0, 2, 0x67, 1, 0, 0, 0, 1, 0x68]));
    expect(splitAnnexB(joinAnnexB(n))).toEqual(n);
  });
});

describe('BitReader', () => {
  it('reads u(n), ue(v), se(v) and flags an overrun instead of throwing', () => {
    // 1 | 010 | 011 | 00100 | 00101 → ue 0, 1, 2, then se(3)=2, se(4)=-2
    const r = new BitReader(Buffer.from([0b10100110, 0b01000010, 0b10000000]));
    expect([r.ue(), r.ue(), r.ue(), r.se(), r.se()]).toEqual([0, 1, 2, 2, -2]);
    expect(r.overrun).toBe(false);
    r.u(32);
    expect(r.overrun).toBe(true);
    expect(new BitReader(Buffer.alloc(8)).ue()).toBe(0);
  });
  it('removes emulation prevention bytes', () => {
    expect(unescapeRbsp(Buffer.from([0, 0, 3, 1, 0, 0, 3, 0, 3]))).toEqual(Buffer.from([0, 0, 1, 0, 0, 0, 3]));
  });
});
