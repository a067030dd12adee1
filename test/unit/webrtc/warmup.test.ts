import { describe, it, expect } from 'vitest';
import { warmUp } from '../../../src/webrtc/warmup.ts';

describe('WebRTC worker warm-up (one WHEP session with itself at start)', () => {
  it('connects a werift viewer to a WhepPeer over ICE + DTLS and sends through our SRTP sender', async () => {
    const t0 = performance.now();
    expect(await warmUp()).toBe(true);
    console.log(`warm-up session: ${(performance.now() - t0).toFixed(0)} ms`);
  }, 15_000);
});
