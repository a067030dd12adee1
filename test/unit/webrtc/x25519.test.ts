import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { x25519, x25519KeyPair, useNativeX25519 } from '../../../src/webrtc/x25519.ts';

// tweetnacl's plain build (nacl.js, a module of its own, never patched) as the independent reference.
const tweetnacl = createRequire(import.meta.url)('tweetnacl/nacl.js') as {
  scalarMult(n: Uint8Array, p: Uint8Array): Uint8Array;
  box: { keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } };
};
const ref = { scalarMult: tweetnacl.scalarMult, keyPair: tweetnacl.box.keyPair };

describe('native X25519 for werift DTLS', () => {
  it('matches the RFC 7748 §6.1 test vector', () => {
    const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
    const alicePriv = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bobPub = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(Buffer.from(x25519(alicePriv, bobPub)).toString('hex')).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });

  it('agrees with tweetnacl both ways, with keys in their own 32-byte buffers', () => {
    for (let i = 0; i < 20; i++) {
      const a = x25519KeyPair();
      const b = ref.keyPair();
      expect(a.secretKey.buffer.byteLength).toBe(32);
      expect(a.publicKey.buffer.byteLength).toBe(32);
      // The native public key is the one tweetnacl derives from the same secret.
      expect(Buffer.from(a.publicKey)).toEqual(Buffer.from(ref.scalarMult(a.secretKey, Uint8Array.from([9, ...new Array(31).fill(0)]))));
      expect(Buffer.from(x25519(a.secretKey, b.publicKey))).toEqual(Buffer.from(ref.scalarMult(b.secretKey, a.publicKey)));
    }
  });

  it('refuses malformed keys and the all-zero shared secret instead of returning it', () => {
    const a = x25519KeyPair();
    expect(() => x25519(a.secretKey, new Uint8Array(31))).toThrow();
    expect(() => x25519(a.secretKey, new Uint8Array(32))).toThrow(); // low-order point 0
  });

  it('is installed on the tweetnacl werift uses', () => {
    const nacl = useNativeX25519();
    expect(nacl.scalarMult).toBe(x25519);
    expect(nacl.box.keyPair).toBe(x25519KeyPair);
  });
});
