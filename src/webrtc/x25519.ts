/**
 * Native X25519 for werift's DTLS handshakes.
 *
 * werift does the ECDHE of every DTLS handshake with tweetnacl, in JavaScript: ~1.2 ms per key pair
 * and per shared secret on an idle core, and 10 ms per handshake in CPU profiles of a 16-tile wall
 * opening at once (tweetnacl's field multiplication was the largest werift item of the worker
 * threads). Chromium picks X25519, so every viewer's setup paid it, one handshake after another on
 * each worker thread. Node's crypto does the same X25519 (RFC 7748) natively in ~0.1 ms.
 *
 * werift calls `nacl.box.keyPair()` and `nacl.scalarMult()` through tweetnacl's module object at
 * call time, so replacing those two functions on werift's own copy of tweetnacl is enough.
 */
import { createRequire } from 'node:module';
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';

/** DER prefixes of an X25519 private key (PKCS #8) and public key (SPKI), RFC 8410. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

interface Nacl {
  scalarMult(n: Uint8Array, p: Uint8Array): Uint8Array;
  box: { keyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } };
}

/** A fresh X25519 key pair; each key in its own 32-byte ArrayBuffer (werift reads `.buffer`). */
export function x25519KeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const sk = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pk = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return { publicKey: new Uint8Array(pk), secretKey: new Uint8Array(sk) };
}

/** X25519(secret, public): the shared secret (throws on a malformed key or a low-order point). */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 32 || publicKey.length !== 32) throw new Error('X25519 keys are 32 bytes');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return new Uint8Array(diffieHellman({ privateKey, publicKey: pub }));
}

let installed = false;

/** Points werift's tweetnacl at the native functions (once per thread). Returns werift's tweetnacl. */
export function useNativeX25519(): Nacl {
  const werift = createRequire(import.meta.url).resolve('werift');
  const nacl = createRequire(werift)('tweetnacl') as Nacl;
  if (!installed) {
    nacl.box.keyPair = x25519KeyPair;
    nacl.scalarMult = x25519;
    installed = true;
  }
  return nacl;
}
