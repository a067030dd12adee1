/**
 * Regression: werift's DTLS client failed the handshake when a slow server answered both its
 * ClientHello and the retransmission of it with a HelloVerifyRequest (the 1–9 failed setups at 100
 * WHEP viewers). werift's own client and server, over an in-memory link that holds the server's
 * first answers back 800 ms, past the client's 500 ms retransmission.
 */
import { describe, expect, it } from 'vitest';
import { DtlsClient, DtlsServer, createSelfSignedCertificate } from 'werift';
import { ignoreRepeatedHelloVerify, type WeriftDtlsClient } from '../../../src/webrtc/peer.ts';

interface End {
  onData: (buf: Buffer) => void;
  send: (buf: Buffer) => Promise<void>;
  close: () => void;
  closed: boolean;
  type: string;
  address: object;
}

/** Two transport ends; what the server sends before `holdMs` is delivered at `holdMs`. */
function link(holdMs: number): { client: End; server: End; helloVerifies: () => number } {
  const t0 = Date.now();
  let hv = 0;
  const end = (): End => ({ onData: () => undefined, send: async () => undefined, close() {}, closed: false, type: 'memory', address: {} });
  const client = end();
  const server = end();
  client.send = async (buf) => void setImmediate(() => server.onData(buf));
  server.send = async (buf) => {
    // DTLS record: content type 22 (handshake), 13-byte record header, then handshake type.
    if (buf[0] === 22 && buf[13] === 3) hv++;
    const wait = Math.max(0, holdMs - (Date.now() - t0));
    setTimeout(() => client.onData(buf), wait);
  };
  return { client, server, helloVerifies: () => hv };
}

async function handshake(fix: boolean): Promise<{ ok: boolean; helloVerifies: number }> {
  const { certPem, keyPem, signatureHash } = await createSelfSignedCertificate({ signature: 3, hash: 4 }, 23); // ECDSA, SHA-256, P-256: what werift's peers use
  const l = link(800);
  const opts = { cert: certPem, key: keyPem, signatureHash, srtpProfiles: [1 as const], extendedMasterSecret: true };
  const server = new DtlsServer({ ...opts, transport: l.server as never, certificateRequest: true });
  const client = new DtlsClient({ ...opts, transport: l.client as never });
  if (fix) ignoreRepeatedHelloVerify(client as unknown as WeriftDtlsClient);
  const result = new Promise<boolean>((resolve) => {
    client.onConnect.once(() => resolve(true));
    client.onError.once(() => resolve(false));
    setTimeout(() => resolve(false), 8000);
  });
  void client.connect().catch(() => undefined);
  const ok = await result;
  client.close();
  server.close();
  return { ok, helloVerifies: l.helloVerifies() };
}

describe('DTLS client and a repeated HelloVerifyRequest', () => {
  it('werift alone fails; with ignoreRepeatedHelloVerify the handshake completes', async () => {
    const without = await handshake(false);
    expect(without.helloVerifies).toBeGreaterThanOrEqual(2);
    expect(without.ok).toBe(false);
    const withFix = await handshake(true);
    expect(withFix.helloVerifies).toBeGreaterThanOrEqual(2);
    expect(withFix.ok).toBe(true);
  }, 30_000);
});
