import { describe, it, expect } from 'vitest';
import { PortBlocks } from '../../../src/webrtc/engine.ts';

describe('PortBlocks', () => {
  it('cuts the range into disjoint blocks of perPeer ports and runs out cleanly', () => {
    const b = new PortBlocks([40000, 40006], 2);
    expect(b.available).toBe(3); // 40006 alone is not a whole block
    const got = [b.take(), b.take(), b.take()];
    expect(got).toEqual([[40000, 40001], [40002, 40003], [40004, 40005]]);
    expect(b.take()).toBeUndefined();
  });

  it('reuses a freed block last (FIFO), so a port is not rebound while its last browser may still send', () => {
    const b = new PortBlocks([50000, 50003], 1);
    const first = b.take()!;
    b.give(first);
    expect(b.take()).toEqual([50001, 50001]);
    expect(b.take()).toEqual([50002, 50002]);
    expect(b.take()).toEqual([50003, 50003]);
    expect(b.take()).toEqual([50000, 50000]);
  });
});
