import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AAC_MAX_AU_BYTES,
  LatmDepacketizer,
  Mpeg4GenericDepacketizer,
  aacCodecString,
  buildAdtsHeader,
  buildAudioSpecificConfig,
  parseAdtsHeader,
  parseAudioSpecificConfig,
  splitAdts,
  type AudioSpecificConfig,
} from '../../../src/codecs/aac/index.ts';
import { BitWriter } from '../../../src/codecs/aac/bits.ts';
import type { Frame } from '../../../src/codecs/types.ts';
import { fmtpOf, loadCapture, loadCaps, pkt, run, runAll } from './audio-mjpeg-helpers.ts';

const LC16K: AudioSpecificConfig = { objectType: 2, sampleRate: 16000, channels: 1, frameLength: 1024 };

/** Real AAC AUs (avenc_aac, 16 kHz mono) from the mpeg4-generic capture. */
function captureAus(): Buffer[] {
  const caps = loadCaps('aac_mpeg4generic');
  const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: caps });
  return runAll(d, loadCapture('aac_mpeg4generic.rtp')).map((f) => f.data[0]!);
}

/** Test-side RFC 3640 packetizer: one packet carrying `aus` with AU-headers of the given widths. */
function rfc3640Packet(aus: Buffer[], sizeLength = 13, indexLength = 3, indexDeltaLength = 3, sizes?: number[]): Buffer {
  const w = new BitWriter();
  aus.forEach((au, i) => {
    w.write(sizes ? sizes[i]! : au.length, sizeLength);
    w.write(0, i === 0 ? indexLength : indexDeltaLength);
  });
  const bits = aus.reduce((n, _, i) => n + sizeLength + (i === 0 ? indexLength : indexDeltaLength), 0);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bits, 0);
  return Buffer.concat([len, w.finish(), ...aus]);
}

function withAdts(au: Buffer, asc = LC16K): Buffer {
  return Buffer.concat([buildAdtsHeader(asc, au.length), au]);
}

/** ffprobe's view of an ADTS stream built from `frames`. */
function probeAdts(frames: Frame[], asc: AudioSpecificConfig): { frames: number; sampleRate: number; channels: number } {
  const adts = Buffer.concat(frames.map((f) => withAdts(f.data[0]!, asc)));
  const r = run('ffprobe', ['-v', 'error', '-f', 'aac', '-count_frames', '-select_streams', 'a:0', '-show_entries', 'stream=nb_read_frames,sample_rate,channels', '-of', 'json', '-'], adts);
  expect(r.code, r.stderr).toBe(0);
  const s = JSON.parse(r.stdout.toString()).streams[0];
  return { frames: Number(s.nb_read_frames), sampleRate: Number(s.sample_rate), channels: Number(s.channels) };
}

describe('AudioSpecificConfig and ADTS', () => {
  it('parses configs seen in camera SDPs', () => {
    // Reolink/Anpviz 1408, Dahua/Ubiquiti 1188, bunny 1490, 1588 (8 kHz), FFmpeg 119056E500.
    expect(parseAudioSpecificConfig(Buffer.from('1408', 'hex'))).toEqual({ ok: true, value: LC16K });
    expect(parseAudioSpecificConfig(Buffer.from('1188', 'hex'))).toEqual({ ok: true, value: { objectType: 2, sampleRate: 48000, channels: 1, frameLength: 1024 } });
    expect(parseAudioSpecificConfig(Buffer.from('1490', 'hex'))).toEqual({ ok: true, value: { objectType: 2, sampleRate: 12000, channels: 2, frameLength: 1024 } });
    expect(parseAudioSpecificConfig(Buffer.from('1588', 'hex'))).toEqual({ ok: true, value: { objectType: 2, sampleRate: 8000, channels: 1, frameLength: 1024 } });
    expect(parseAudioSpecificConfig(Buffer.from('119056E500', 'hex'))).toEqual({ ok: true, value: { objectType: 2, sampleRate: 48000, channels: 2, frameLength: 1024 } });
    // Explicit HE-AAC (object type 5): output rate is the extension rate, 2048 samples per AU.
    const he = parseAudioSpecificConfig(Buffer.from('2b098800', 'hex'));
    expect(he.ok && he.value).toMatchObject({ objectType: 5, sampleRate: 48000, channels: 1, frameLength: 2048 });
    expect(he.ok && aacCodecString(he.value)).toBe('mp4a.40.5');
    expect(aacCodecString(LC16K)).toBe('mp4a.40.2');
    expect(parseAudioSpecificConfig(Buffer.from('14', 'hex')).ok).toBe(false);
    expect(parseAudioSpecificConfig(Buffer.from('1780', 'hex')).ok).toBe(false); // reserved rate index 14
    expect(buildAudioSpecificConfig(LC16K).toString('hex')).toBe('1408');
    expect(buildAudioSpecificConfig({ objectType: 2, sampleRate: 48000, channels: 2, frameLength: 1024 }).toString('hex')).toBe('1190');
  });

  it('builds and parses ADTS headers and splits an ADTS stream', () => {
    const h = buildAdtsHeader({ objectType: 2, sampleRate: 48000, channels: 2, frameLength: 1024 }, 300);
    expect(parseAdtsHeader(h)).toEqual({ ok: true, value: { headerLength: 7, frameLength: 307, asc: { objectType: 2, sampleRate: 48000, channels: 2, frameLength: 1024 } } });
    expect(parseAdtsHeader(Buffer.from('fff1', 'hex')).ok).toBe(false);
    const aus = [Buffer.alloc(10, 1), Buffer.alloc(200, 2), Buffer.alloc(3, 3)];
    const stream = Buffer.concat([Buffer.from([0x00, 0x12]), ...aus.map((a) => withAdts(a)), withAdts(Buffer.alloc(50)).subarray(0, 20)]);
    expect(splitAdts(stream)).toEqual(aus); // leading junk skipped, truncated tail dropped
  });

  it('splits an ffmpeg-encoded .aac file into the frames ffprobe counts', () => {
    const r = run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=f=440:r=16000', '-t', '1', '-c:a', 'aac', '-b:a', '32k', '-f', 'adts', '-']);
    expect(r.code, r.stderr).toBe(0);
    const aus = splitAdts(r.stdout);
    const probe = run('ffprobe', ['-v', 'error', '-f', 'aac', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', '-'], r.stdout);
    expect(aus.length).toBe(Number(probe.stdout.toString().trim()));
    expect(aus.length).toBeGreaterThan(10);
  });
});

describe('Mpeg4GenericDepacketizer (RFC 3640)', () => {
  it('depacketizes the GStreamer capture into AUs that ffprobe decodes', () => {
    const caps = loadCaps('aac_mpeg4generic');
    const d = new Mpeg4GenericDepacketizer({ clockRate: Number(caps['clock-rate']), channels: 1, fmtp: caps });
    const frames = runAll(d, loadCapture('aac_mpeg4generic.rtp'));
    expect(frames.length).toBe(41);
    expect(d.stats).toMatchObject({ framesOut: 41, errors: 0, framesDropped: 0 });
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.timestamp - frames[i - 1]!.timestamp).toBe(1024);
    expect(frames.every((f) => f.keyframe)).toBe(true);
    const p = d.params();
    expect(p).toMatchObject({ codecString: 'mp4a.40.2', sampleRate: 16000, channels: 1 });
    expect(p.audioSpecificConfig?.toString('hex')).toBe('140856e500');
    expect(probeAdts(frames, LC16K)).toEqual({ frames: 41, sampleRate: 16000, channels: 1 });
  });

  it('splits several AUs per packet, each with its own timestamp', () => {
    const aus = captureAus().slice(0, 3);
    const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1408') });
    const out = d.push(pkt(5000, rfc3640Packet(aus)), false);
    expect(out.map((f) => f.timestamp)).toEqual([5000, 6024, 7048]);
    expect(out.map((f) => f.data[0])).toEqual(aus);
  });

  it('steps timestamps by the config rate, not the rtpmap rate (QUIRKS Q40: config=1588 under /16000)', () => {
    const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1588') });
    const out = d.push(pkt(0, rfc3640Packet([Buffer.alloc(20, 1), Buffer.alloc(30, 2)])), false);
    expect(out.map((f) => f.timestamp)).toEqual([0, 2048]);
    expect(d.params()).toMatchObject({ sampleRate: 8000, channels: 1 });
  });

  it('strips an ADTS header left inside each AU (Reolink, QUIRKS Q40)', () => {
    const aus = captureAus().slice(0, 4);
    const reolink = fmtpOf('streamtype=5;profile-level-id=15;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1408; profile=1;');
    const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: reolink });
    const out = [...d.push(pkt(0, rfc3640Packet([withAdts(aus[0]!), withAdts(aus[1]!)])), false), ...d.push(pkt(2048, rfc3640Packet([withAdts(aus[2]!)])), false)];
    expect(out.map((f) => f.data[0])).toEqual(aus.slice(0, 3));
    expect(probeAdts(out, LC16K).frames).toBe(3);
  });

  it('accepts a packet that is a bare ADTS frame with no AU-header section (go2rtc#1328, QUIRKS Q40)', () => {
    const aus = captureAus().slice(0, 3);
    // No config in the SDP: the ADTS header supplies it.
    const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3') });
    const one = d.push(pkt(100, withAdts(aus[0]!)), false);
    const two = d.push(pkt(1124, Buffer.concat([withAdts(aus[1]!), withAdts(aus[2]!)])), false);
    expect(one.map((f) => f.data[0])).toEqual([aus[0]]);
    expect(two.map((f) => f.timestamp)).toEqual([1124, 2148]);
    expect(two.map((f) => f.data[0])).toEqual(aus.slice(1, 3));
    expect(d.params()).toMatchObject({ codecString: 'mp4a.40.2', sampleRate: 16000, channels: 1 });
    expect(d.params().audioSpecificConfig?.toString('hex')).toBe('1408');
    expect(d.stats.errors).toBe(0);
  });

  it('parses unaligned AU-headers: sizelength=6 and sizelength=12 (gortsplib#118, QUIRKS Q40)', () => {
    const small = [Buffer.alloc(10, 0xa1), Buffer.alloc(33, 0xb2), Buffer.alloc(63, 0xc3)];
    const d6 = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('mode=AAC-hbr;sizelength=6;indexlength=3;indexdeltalength=3;config=1408') });
    expect(d6.push(pkt(0, rfc3640Packet(small, 6, 3, 3)), false).map((f) => f.data[0])).toEqual(small);
    const aus = captureAus().slice(0, 3);
    const d12 = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('mode=AAC-hbr;sizelength=12;indexlength=3;indexdeltalength=3;config=1408') });
    expect(d12.push(pkt(0, rfc3640Packet(aus, 12, 3, 3)), false).map((f) => f.data[0])).toEqual(aus);
  });

  it('reads fmtp key spellings from cameras (Ubiquiti SizeLength/IndexDeltaLength, AAC_hbr, no lengths)', () => {
    const aus = captureAus().slice(0, 2);
    const ubiquiti = 'streamtype=5; profile-level-id=15; mode=AAC-hbr; config=1188; SizeLength=13; IndexLength=3; IndexDeltaLength=3;';
    const asIs: Record<string, string> = {};
    for (const part of ubiquiti.split(';')) {
      const [k, v] = part.split('=');
      if (v !== undefined) asIs[k!.trim()] = v; // keys NOT lower-cased, values with spaces
    }
    for (const fmtp of [fmtpOf(ubiquiti), asIs, fmtpOf('mode=AAC_hbr;config=1188'), fmtpOf('config=1188'), fmtpOf('sizeLength=13;indexDeltalength=3;indexLength=3;CTSDeltaLength=0;config=1188'), { mode: 'AAC-hbr;', config: ' 1188; ', sizelength: '13;' }]) {
      const d = new Mpeg4GenericDepacketizer({ clockRate: 48000, fmtp });
      expect(d.push(pkt(0, rfc3640Packet(aus)), false).map((f) => f.data[0])).toEqual(aus);
      expect(d.params()).toMatchObject({ sampleRate: 48000, channels: 1 });
    }
  });

  it('reassembles an AU fragmented across 3 packets', () => {
    const au = captureAus()[0]!;
    expect(au.length).toBeGreaterThan(300);
    const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1408') });
    const cuts = [0, 100, 250, au.length];
    const out: Frame[] = [];
    for (let i = 0; i < 3; i++) out.push(...d.push(pkt(900, rfc3640Packet([au.subarray(cuts[i], cuts[i + 1])], 13, 3, 3, [au.length]), i === 2), false));
    expect(out.length).toBe(1);
    expect(out[0]!.data[0]).toEqual(au);
    expect(out[0]!.timestamp).toBe(900);
  });

  it('a lost fragment drops only that AU', () => {
    const aus = captureAus();
    const [a, b, c] = [aus[0]!, aus[1]!, aus[2]!];
    const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1408') });
    const frag = (part: Buffer) => rfc3640Packet([part], 13, 3, 3, [b.length]);
    const out: Frame[] = [];
    out.push(...d.push(pkt(0, rfc3640Packet([a])), false));
    out.push(...d.push(pkt(1024, frag(b.subarray(0, 100)), false), false));
    // second fragment lost
    out.push(...d.push(pkt(1024, frag(b.subarray(200)), true), true));
    out.push(...d.push(pkt(2048, rfc3640Packet([c])), false));
    expect(out.map((f) => f.data[0])).toEqual([a, c]);
    expect(out.map((f) => f.timestamp)).toEqual([0, 2048]);
    expect(d.stats.framesDropped).toBe(1);

    // First fragment lost instead: the tail can't complete the AU and is dropped at the marker.
    const d2 = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('mode=AAC-hbr;config=1408') });
    const out2 = [
      ...d2.push(pkt(1024, frag(b.subarray(100, 200)), false), true),
      ...d2.push(pkt(1024, frag(b.subarray(200)), true), false),
      ...d2.push(pkt(2048, rfc3640Packet([c])), false),
    ];
    expect(out2.map((f) => f.data[0])).toEqual([c]);
  });

  it('counts malformed packets instead of throwing', () => {
    const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp: fmtpOf('mode=AAC-hbr;config=1408') });
    expect(d.push(pkt(0, Buffer.from([0x00, 0x10, 0x00])), false)).toEqual([]); // AU-header past the end
    expect(d.push(pkt(0, Buffer.from([0xff, 0xff, 0x00, 0x00])), false)).toEqual([]); // header length > payload
    expect(d.push(pkt(0, Buffer.alloc(0)), false)).toEqual([]);
    expect(d.stats.errors).toBe(3);
  });
});

/** StreamMuxConfig bits for AAC-LC 16 kHz mono, audioMuxVersion 0, frameLengthType 0. */
function writeStreamMuxConfig(w: BitWriter): void {
  w.write(0, 1); // audioMuxVersion
  w.write(1, 1); // allStreamsSameTimeFraming
  w.write(0, 6); // numSubFrames
  w.write(0, 4); // numProgram
  w.write(0, 3); // numLayer
  w.write(2, 5); // AAC-LC
  w.write(8, 4); // 16 kHz
  w.write(1, 4); // mono
  w.write(0, 3); // GASpecificConfig
  w.write(0, 3); // frameLengthType
  w.write(0xff, 8); // latmBufferFullness
  w.write(0, 1); // otherDataPresent
  w.write(0, 1); // crcCheckPresent
}

/** A cpresent=1 AudioMuxElement with one AU; the config is sent in-band when `withConfig`. */
function latmInBand(au: Buffer, withConfig: boolean): Buffer {
  const w = new BitWriter();
  w.write(withConfig ? 0 : 1, 1); // useSameStreamMux
  if (withConfig) writeStreamMuxConfig(w);
  let n = au.length;
  while (n >= 255) {
    w.write(255, 8);
    n -= 255;
  }
  w.write(n, 8);
  for (const b of au) w.write(b, 8);
  return w.finish();
}

function latmOutOfBand(au: Buffer): Buffer {
  const len: number[] = [];
  let n = au.length;
  while (n >= 255) {
    len.push(255);
    n -= 255;
  }
  len.push(n);
  return Buffer.concat([Buffer.from(len), au]);
}

describe('LatmDepacketizer (RFC 6416)', () => {
  it('depacketizes the GStreamer cpresent=0 capture into AUs that ffprobe decodes', () => {
    const caps = loadCaps('aac_latm');
    expect(caps['cpresent']).toBe('0');
    const d = new LatmDepacketizer({ clockRate: Number(caps['clock-rate']), fmtp: caps });
    const frames = runAll(d, loadCapture('aac_latm.rtp'));
    expect(frames.length).toBe(41);
    expect(d.stats.errors).toBe(0);
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.timestamp - frames[i - 1]!.timestamp).toBe(1024);
    expect(d.params()).toMatchObject({ codecString: 'mp4a.40.2', sampleRate: 16000, channels: 1 });
    expect(probeAdts(frames, LC16K)).toEqual({ frames: 41, sampleRate: 16000, channels: 1 });
    // Same encoder, same input: the AUs match the mpeg4-generic capture byte for byte.
    expect(frames.map((f) => f.data[0])).toEqual(captureAus());
  });

  it('reads a complete cpresent=0 config and reassembles an element split over packets', () => {
    const w = new BitWriter();
    writeStreamMuxConfig(w);
    const config = w.finish().toString('hex');
    const au = captureAus()[0]!;
    const d = new LatmDepacketizer({ clockRate: 16000, fmtp: fmtpOf(`cpresent=0;config=${config}`) });
    const el = latmOutOfBand(au);
    expect(d.push(pkt(10, el.subarray(0, 200), false), false)).toEqual([]);
    const out = d.push(pkt(10, el.subarray(200), true), false);
    expect(out.map((f) => f.data[0])).toEqual([au]);
    expect(d.params().audioSpecificConfig?.toString('hex')).toBe('1408');
  });

  it('handles cpresent=1 with the StreamMuxConfig in-band', () => {
    const aus = captureAus().slice(0, 3);
    const d = new LatmDepacketizer({ clockRate: 16000, fmtp: fmtpOf('cpresent=1') });
    expect(d.params().codecString).toBeUndefined();
    const out = [...d.push(pkt(0, latmInBand(aus[0]!, true)), false), ...d.push(pkt(1024, latmInBand(aus[1]!, false)), false), ...d.push(pkt(2048, latmInBand(aus[2]!, true)), false)];
    expect(out.map((f) => f.data[0])).toEqual(aus);
    expect(d.params()).toMatchObject({ codecString: 'mp4a.40.2', sampleRate: 16000, channels: 1 });
  });

  it('survives cpresent=0 with an empty config= by waiting for an in-band config (mediamtx#3590, QUIRKS Q41)', () => {
    const aus = captureAus().slice(0, 3);
    const d = new LatmDepacketizer({ clockRate: 16000, channels: 1, fmtp: fmtpOf('profile-level-id=1709392648;cpresent=0;config=') });
    expect(d.params()).toMatchObject({ sampleRate: 16000, channels: 1 });
    // Elements without a config can't be decoded: counted, not thrown.
    expect(d.push(pkt(0, latmOutOfBand(aus[0]!)), false)).toEqual([]);
    expect(d.stats.errors).toBeGreaterThan(0);
    const out = [...d.push(pkt(1024, latmInBand(aus[1]!, true)), false), ...d.push(pkt(2048, latmInBand(aus[2]!, false)), false)];
    expect(out.map((f) => f.data[0])).toEqual(aus.slice(1));
  });
});

describe('AAC depacketizers under random input', () => {
  const fmtps = [
    fmtpOf('mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1408'),
    fmtpOf('mode=AAC-lbr;sizelength=6;indexlength=2;indexdeltalength=2;config=1588'),
    fmtpOf('mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;ctsdeltalength=4;dtsdeltalength=4;randomaccessindication=1;auxiliarydatasizelength=8'),
    fmtpOf('streammode=5;config='),
  ];
  const packets = fc.array(
    fc.record({ payload: fc.uint8Array({ maxLength: 1500 }), ts: fc.integer({ min: 0, max: 5 }), marker: fc.boolean(), lost: fc.boolean() }),
    { maxLength: 60 },
  );

  it('mpeg4-generic never throws and keeps its reassembly buffer under the cap', () => {
    fc.assert(
      fc.property(fc.constantFrom(...fmtps), packets, (fmtp, list) => {
        const d = new Mpeg4GenericDepacketizer({ clockRate: 16000, fmtp });
        for (const p of list) {
          const frames = d.push(pkt(p.ts * 1024, Buffer.from(p.payload), p.marker), p.lost);
          for (const f of frames) expect(f.data[0]!.length).toBeLessThanOrEqual(AAC_MAX_AU_BYTES);
          const frag = (d as unknown as { frag?: { have: number } }).frag;
          expect(frag?.have ?? 0).toBeLessThanOrEqual(AAC_MAX_AU_BYTES);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('LATM never throws and keeps its reassembly buffer under the cap', () => {
    fc.assert(
      fc.property(fc.constantFrom('cpresent=1', 'cpresent=0;config=40002810adca00', 'cpresent=0;config='), packets, (f, list) => {
        const d = new LatmDepacketizer({ clockRate: 16000, fmtp: fmtpOf(f) });
        for (const p of list) {
          d.push(pkt(p.ts * 1024, Buffer.from(p.payload), p.marker), p.lost);
          expect((d as unknown as { have: number }).have).toBeLessThanOrEqual(AAC_MAX_AU_BYTES);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a long run of unterminated fragments stays bounded', () => {
    const d = new LatmDepacketizer({ clockRate: 16000, fmtp: fmtpOf('cpresent=1') });
    for (let i = 0; i < 200; i++) d.push(pkt(0, Buffer.alloc(1400, 0x55), false), false);
    expect((d as unknown as { have: number }).have).toBeLessThanOrEqual(AAC_MAX_AU_BYTES);
    expect(d.stats.errors).toBeGreaterThan(0);
  });
});
