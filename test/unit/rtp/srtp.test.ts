import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RtpHeader, SrtpSession, ProtectionProfileAes128CmHmacSha1_80 } from 'werift';
import { SrtpAesCmSender, SRTP_AUTH_TAG_LENGTH } from '../../../src/rtp/srtp.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A werift SRTP session pair for one master key: `tx` protects, `rx` (keys swapped) unprotects. */
function weriftPair() {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const other = randomBytes(16);
  const otherSalt = randomBytes(14);
  const profile = ProtectionProfileAes128CmHmacSha1_80;
  const tx = new SrtpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: other, remoteMasterSalt: otherSalt }, profile });
  const rx = new SrtpSession({ keys: { localMasterKey: other, localMasterSalt: otherSalt, remoteMasterKey: key, remoteMasterSalt: salt }, profile });
  const ctx = tx.localContext as unknown as { srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer };
  const ours = new SrtpAesCmSender({ key: ctx.srtpSessionKey, salt: ctx.srtpSessionSalt, authKey: ctx.srtpSessionAuthTag });
  return { tx, rx, ours };
}

describe('SRTP AES_CM_128_HMAC_SHA1_80 sender (RFC 3711)', () => {
  it('produces the RFC 3711 B.2 AES-CM keystream', () => {
    const sender = new SrtpAesCmSender({
      key: hex('2B7E151628AED2A6ABF7158809CF4F3C'),
      salt: hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD'),
      authKey: Buffer.alloc(20),
    });
    // SSRC 0, SEQ 0, ROC 0: an all-zero payload encrypts to the keystream itself.
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    const out = sender.protect(header, Buffer.alloc(48), 0);
    expect(out.length).toBe(12 + 48 + SRTP_AUTH_TAG_LENGTH);
    expect(out.subarray(12, 60).toString('hex').toUpperCase()).toBe(
      'E03EAD0935C95E80E166B16DD92B4EB4' + 'D23513162B02D0F72A43A2FE4A5F97AB' + '41E95B3BB0A2E8DD477901E4FCA894C0',
    );
  });

  it('matches werift byte for byte and werift unprotects it, across a sequence-number wrap', () => {
    const { tx, rx, ours } = weriftPair();
    const ssrc = 0x1234abcd;
    const ext = [{ id: 1, payload: Buffer.from('0') }];
    let roc = 0;
    for (let k = 0; k < 40; k++) {
      const seq = (65520 + k) & 0xffff;
      if (seq === 0) roc++;
      const payload = randomBytes(1 + ((k * 97) % 1300));
      const header = new RtpHeader({ payloadType: 102, sequenceNumber: seq, timestamp: 90000 * k, marker: k % 3 === 0, ssrc, extensions: ext });
      const theirs = tx.encrypt(payload, header);
      const mine = ours.protect(header.serialize(header.serializeSize), payload, roc);
      expect(mine.equals(theirs)).toBe(true);
      const plain = rx.decrypt(mine);
      expect(plain.subarray(plain.length - payload.length).equals(payload)).toBe(true);
    }
    expect(roc).toBe(1);
  });

  it('matches werift in any order of sequence numbers (keystream made ahead in batches)', () => {
    const { tx, ours } = weriftPair();
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1000, max: 1100 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 1400 }), (seqs, size) => {
        for (const seq of seqs) {
          const payload = Buffer.alloc(size, seq & 0xff);
          const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, marker: false, ssrc: 42 });
          const theirs = tx.encrypt(payload, header);
          if (!ours.protect(header.serialize(header.serializeSize), payload, 0).equals(theirs)) return false;
        }
        return true;
      }),
      { numRuns: 40 },
    );
  });

  it('any payload and index round-trips through werift (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1500 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), (payload, seq, ssrc) => {
        const { rx, ours } = weriftPair();
        const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: 1, marker: true, ssrc });
        const out = ours.protect(header.serialize(header.serializeSize), payload, 0);
        const plain = rx.decrypt(out);
        return plain.subarray(12).equals(Buffer.from(payload));
      }),
      { numRuns: 60 },
    );
  });

  it('a changed byte fails authentication at the receiver', () => {
    const { rx, ours } = weriftPair();
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: 7, timestamp: 1, marker: false, ssrc: 5 });
    const out = ours.protect(header.serialize(header.serializeSize), Buffer.from('payload bytes'), 0);
    out[14]! ^= 1;
    expect(() => rx.decrypt(out)).toThrow(/authenticate/);
  });

  it('refuses keys of the wrong size', () => {
    expect(() => new SrtpAesCmSender({ key: Buffer.alloc(15), salt: Buffer.alloc(14), authKey: Buffer.alloc(20) })).toThrow(/16 bytes/);
  });
});
