import { describe, expect, it } from 'vitest';
import { newSpaceFill, scavengeWhenIdle } from '../../../src/util/idle-gc.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('scavenge between frames', () => {
  it('empties a nearly full new space after the current turn, not during it', async () => {
    // Fill the young generation with short-lived objects until it is past the threshold.
    let sink: unknown[] = [];
    for (let i = 0; newSpaceFill() < 0.9; i++) {
      sink = [{ i }, { i: i + 1 }, sink.length];
      if (i > 50_000_000) throw new Error('new space never filled');
    }
    expect(sink.length).toBe(3);
    const before = newSpaceFill();
    expect(before).toBeGreaterThanOrEqual(0.9);
    scavengeWhenIdle();
    // Nothing happens synchronously: the frame being handled is not paused.
    expect(newSpaceFill()).toBeGreaterThanOrEqual(before);
    await turn();
    await turn();
    expect(newSpaceFill()).toBeLessThan(0.5);
  });

  it('leaves a new space with room alone', async () => {
    await turn();
    await new Promise((r) => setTimeout(r, 20)); // past the 10 ms between checks
    const before = newSpaceFill();
    expect(before).toBeLessThan(0.85); // the first test just scavenged
    scavengeWhenIdle();
    await turn();
    expect(newSpaceFill()).toBeGreaterThanOrEqual(before);
  });
});
