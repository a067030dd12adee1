import { describe, it, expect } from 'vitest';
import { Pacer } from '../../../src/webrtc/fanout.ts';
import type { OutPayload, OutTrack } from '../../../src/webrtc/peer.ts';

/** A stand-in for a peer's OutTrack: records what the pacer sends (the pacer only calls send()). */
function track(name: string, log: string[]): OutTrack {
  return { send: (p: OutPayload) => log.push(`${name}${p.payload[0]}`) } as unknown as OutTrack;
}
const payloads = (n: number): OutPayload[] => Array.from({ length: n }, (_, i) => ({ payload: Buffer.from([i]), marker: false }));
const drained = async (log: string[], n: number) => {
  for (let i = 0; i < 500 && log.length < n; i++) await new Promise((r) => setTimeout(r, 2));
};

describe('Pacer (one per peer, shared by the streams of a bundled session)', () => {
  it('sends a live frame at once, and a burst 48 packets at a time, in order, across streams', async () => {
    const log: string[] = [];
    const pacer = new Pacer(() => false);
    const a = track('a', log);
    const b = track('b', log);
    pacer.send(a, payloads(5), 0, 0);
    expect(log).toHaveLength(5); // nothing waits when the budget allows
    // 16 tiles' GOP bursts at connect: what does not fit this millisecond's budget waits for later ticks.
    pacer.send(a, payloads(100), 1, 0);
    pacer.send(b, payloads(100), 1, 0);
    // At most one budget leaves at once (48, less what this millisecond already sent).
    expect(log.length - 5).toBeGreaterThanOrEqual(43);
    expect(log.length - 5).toBeLessThanOrEqual(48);
    expect(pacer.idle).toBe(false);
    await drained(log, 205);
    expect(log).toHaveLength(205);
    expect(pacer.idle).toBe(true);
    // Per stream, packets leave in the order given; b's burst after a's.
    expect(log.slice(5, 105)).toEqual(payloads(100).map((p) => `a${p.payload[0]}`));
    expect(log.slice(105)).toEqual(payloads(100).map((p) => `b${p.payload[0]}`));
  });

  it('a live frame queued behind a burst keeps its place; a closed peer drops what is queued', async () => {
    const log: string[] = [];
    let closed = false;
    const pacer = new Pacer(() => closed);
    const a = track('a', log);
    pacer.send(a, payloads(60), 0, 0);
    pacer.send(a, payloads(1), 1, 0);
    expect(log).toHaveLength(48);
    await drained(log, 61);
    expect(log[60]).toBe('a0');
    pacer.send(a, payloads(200), 2, 0);
    const sent = log.length;
    closed = true;
    await new Promise((r) => setTimeout(r, 30));
    expect(log.length).toBe(sent);
    expect(pacer.idle).toBe(true);
  });
});
