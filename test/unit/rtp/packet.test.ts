import { describe, it, expect } from 'vitest';
import { parseRtpPacket, serializeRtpPacket } from '../../../src/rtp/packet.ts';

describe('parseRtpPacket', () => {
  it('parses the fixed header', () => {
    // V=2, M=1, PT=96, seq=0xABCD, ts=0x01020304, ssrc=0xDEADBEEF, payload 3 bytes
    const buf = Buffer.from('80e0abcd01020304deadbeef414243', 'hex');
    const r = parseRtpPacket(buf);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({ version: 2, padding: false, extension: false, marker: true, payloadType: 96, sequenceNumber: 0xabcd, timestamp: 0x01020304, ssrc: 0xdeadbeef, csrc: [] });
    expect(r.value.payload.toString()).toBe('ABC');
    // no copy: the payload shares memory with the input
    expect(r.value.payload.buffer).toBe(buf.buffer);
  });

  it('parses CSRCs, a header extension and padding together', () => {
    const buf = Buffer.concat([
      Buffer.from([0xb2, 0x08]), // V=2 P=1 X=1 CC=2, PT 8
      Buffer.from('0001ffffffff00000001', 'hex'), // seq 1, ts 0xffffffff, ssrc 1
      Buffer.from('0000000a0000000b', 'hex'), // CSRC 10, 11
      Buffer.from('bede0002', 'hex'), // one-byte header extension profile, 2 words
      Buffer.from('1122334455667788', 'hex'),
      Buffer.from('cafe', 'hex'), // payload
      Buffer.from([0, 0, 3]), // 3 bytes of padding
    ]);
    const r = parseRtpPacket(buf);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const p = r.value;
    expect(p.padding && p.extension).toBe(true);
    expect(p.csrc).toEqual([10, 11]);
    expect(p.timestamp).toBe(0xffffffff);
    expect(p.extensionProfile).toBe(0xbede);
    expect(p.extensionData!.toString('hex')).toBe('1122334455667788');
    expect(p.payload.toString('hex')).toBe('cafe');
  });

  it.each([
    ['too short', '80e0abcd01020304deadbe'],
    ['version 1', '40e0abcd01020304deadbeef41'],
    ['CSRC count beyond packet', '83e0abcd01020304deadbeef00000001'],
    ['extension header truncated', '90e0abcd01020304deadbeefbede'],
    ['extension length beyond packet', '90e0abcd01020304deadbeefbede000511223344'],
    ['padding length 0', 'a0e0abcd01020304deadbeef414200'],
    ['padding longer than packet', 'a0e0abcd01020304deadbeef4142ff'],
  ])('rejects %s', (_name, hex) => {
    const r = parseRtpPacket(Buffer.from(hex, 'hex'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.length).toBeGreaterThan(0);
  });

  it('accepts padding that eats the whole payload', () => {
    const r = parseRtpPacket(Buffer.from('a0600001000000020000000300000004', 'hex'));
    expect(r.ok && r.value.payload.length).toBe(0);
  });
});

describe('serializeRtpPacket', () => {
  it('round-trips with CSRCs and an unaligned extension body (zero-padded to 32 bits)', () => {
    const buf = serializeRtpPacket({
      marker: true, payloadType: 97, sequenceNumber: 65535, timestamp: 4294967295, ssrc: 0x12345678,
      csrc: [1, 2, 3], extensionProfile: 0x1000, extensionData: Buffer.from([1, 2, 3, 4, 5]), payload: Buffer.from('hello'),
    });
    const r = parseRtpPacket(buf);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({ marker: true, payloadType: 97, sequenceNumber: 65535, timestamp: 4294967295, ssrc: 0x12345678, csrc: [1, 2, 3], extensionProfile: 0x1000 });
    expect(r.value.extensionData!.toString('hex')).toBe('0102030405000000');
    expect(r.value.payload.toString()).toBe('hello');
    expect(buf.length).toBe(12 + 12 + 4 + 8 + 5);
  });

  it('writes a plain 12-byte header when no extension is given', () => {
    const buf = serializeRtpPacket({ marker: false, payloadType: 0, sequenceNumber: 7, timestamp: 160, ssrc: 9, payload: Buffer.alloc(160) });
    expect(buf.length).toBe(172);
    expect(buf[0]).toBe(0x80);
    expect(buf[1]).toBe(0);
  });
});
