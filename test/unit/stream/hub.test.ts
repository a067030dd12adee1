import { describe, it, expect } from 'vitest';
import { Stream, StreamHub } from '../../../src/stream/stream.ts';
import type { AccessUnit, TrackInfo } from '../../../src/stream/types.ts';

const tracks: TrackInfo[] = [
  { id: 0, kind: 'video', codec: 'H264', clockRate: 90000, params: {} },
  { id: 1, kind: 'audio', codec: 'AAC', clockRate: 48000, params: {} },
];

function video(i: number, keyframe: boolean, size = 100): AccessUnit {
  return { track: 0, codec: 'H264', pts: i * 3600, dts: i * 3600, clockRate: 90000, wallclock: i * 40, keyframe, data: [Buffer.alloc(size, i & 0xff)], epoch: 1 };
}
function audio(i: number): AccessUnit {
  return { track: 1, codec: 'AAC', pts: i * 1024, dts: i * 1024, clockRate: 48000, wallclock: i * 21, keyframe: true, data: [Buffer.alloc(10)], epoch: 1 };
}

describe('Stream GOP cache', () => {
  it('keeps the last keyframe onward and a new consumer starts at that keyframe', () => {
    const s = new Stream('cam');
    s.start(tracks);
    for (let i = 0; i < 10; i++) s.publish(video(i, i % 4 === 0));
    s.publish(audio(0));
    const gop = s.gopSnapshot();
    expect(gop[0]!.keyframe).toBe(true);
    expect(gop[0]!.pts).toBe(8 * 3600);
    expect(gop.length).toBe(3); // frames 8, 9 and the audio unit
    const c = s.subscribe();
    expect(c.tryNext()!.pts).toBe(8 * 3600);
    expect(c.size).toBe(2);
  });

  it('ignores units before the first keyframe and empties on restart', () => {
    const s = new Stream('cam');
    s.start(tracks);
    s.publish(video(0, false));
    expect(s.gopSnapshot()).toHaveLength(0);
    s.publish(video(1, true));
    expect(s.gopSnapshot()).toHaveLength(1);
    const epoch = s.epoch;
    s.start(tracks);
    expect(s.epoch).toBe(epoch + 1);
    expect(s.gopSnapshot()).toHaveLength(0);
  });

  it('forgets a GOP longer than its limit instead of growing', () => {
    const s = new Stream('cam', { maxUnits: 50, maxBytes: 1 << 30 });
    s.start(tracks);
    for (let i = 0; i < 200; i++) s.publish(video(i, i === 0));
    expect(s.gopSnapshot().length).toBeLessThanOrEqual(50);
    expect(s.stats().gopOverflows).toBe(1);
    s.publish(video(200, true));
    expect(s.gopSnapshot()).toHaveLength(1);
  });
});

describe('Consumer queue', () => {
  it('push takes units inside publish() while the queue is empty; a refused unit queues and so do the ones after it', () => {
    const s = new Stream('cam');
    s.start(tracks);
    const c = s.subscribe();
    const pushed: number[] = [];
    let accept = true;
    c.push = (au) => {
      if (!accept) return false;
      pushed.push(au.pts / 3600);
      return true;
    };
    s.publish(video(0, true));
    s.publish(video(1, false));
    expect(pushed).toEqual([0, 1]);
    expect(c.size).toBe(0);
    accept = false;
    s.publish(video(2, false));
    accept = true;
    s.publish(video(3, false)); // not pushed: 2 is still queued, and 3 must not overtake it
    expect(pushed).toEqual([0, 1]);
    expect([c.tryNext()!.pts / 3600, c.tryNext()!.pts / 3600]).toEqual([2, 3]);
    s.publish(video(4, false));
    expect(pushed).toEqual([0, 1, 4]);
    expect(c.stats().delivered).toBe(5);
  });

  it('drops a slow consumer back to the next keyframe and counts it; memory stays bounded', () => {
    const s = new Stream('cam');
    s.start(tracks);
    const slow = s.subscribe({ maxUnits: 20, label: 'slow' });
    const fast = s.subscribe({ maxUnits: 10_000, label: 'fast' });
    for (let i = 0; i < 1000; i++) {
      s.publish(video(i, i % 25 === 0));
      expect(slow.size).toBeLessThanOrEqual(20);
      fast.tryNext();
    }
    const st = slow.stats();
    expect(st.overflows).toBeGreaterThan(0);
    expect(st.droppedUnits).toBeGreaterThan(900);
    // after an overflow the queue restarts at a keyframe
    s.publish(video(1000, true));
    const first = slow.tryNext()!;
    expect(first.keyframe).toBe(true);
    // the fast consumer lost nothing
    expect(fast.stats().overflows).toBe(0);
    expect(fast.stats().delivered).toBe(1000);
    expect(first.pts).toBe(1000 * 3600);
  });

  it('bounds by bytes as well as units', () => {
    const s = new Stream('cam');
    s.start(tracks);
    const c = s.subscribe({ maxBytes: 10_000 });
    for (let i = 0; i < 500; i++) s.publish(video(i, i % 50 === 0, 1000));
    expect(c.stats().queuedBytes).toBeLessThanOrEqual(10_000);
    expect(c.stats().overflows).toBeGreaterThan(0);
  });

  it('async iteration delivers in order and ends on close', async () => {
    const s = new Stream('cam');
    s.start(tracks);
    const c = s.subscribe();
    const got: number[] = [];
    const done = (async () => {
      for await (const au of c) got.push(au.pts);
    })();
    for (let i = 0; i < 5; i++) s.publish(video(i, i === 0));
    await new Promise((r) => setTimeout(r, 5));
    c.close();
    await done;
    expect(got).toEqual([0, 3600, 7200, 10800, 14400]);
    expect(s.stats().consumers).toBe(0);
  });

  it('filters by track', () => {
    const s = new Stream('cam');
    s.start(tracks);
    const c = s.subscribe({ tracks: [1] });
    s.publish(video(0, true));
    s.publish(audio(0));
    expect(c.size).toBe(1);
    expect(c.tryNext()!.track).toBe(1);
  });
});

describe('StreamHub', () => {
  it('creates, lists and deletes streams; delete closes consumers', () => {
    const hub = new StreamHub();
    const s = hub.getOrCreate('cam');
    expect(hub.getOrCreate('cam')).toBe(s);
    hub.getOrCreate('cam/sub');
    expect(hub.list().map((x) => x.name)).toEqual(['cam', 'cam/sub']);
    const c = s.subscribe();
    hub.delete('cam');
    expect(c.isClosed).toBe(true);
    expect(hub.get('cam')).toBeUndefined();
  });
});

describe('Stream.videoReordered (B-frames, which WebRTC cannot carry)', () => {
  const at = (frame: number, keyframe = false): AccessUnit => ({ ...video(0, keyframe), pts: 900000 + frame * 3600 });

  it('frames in decode order with B-frames (I P B B …) are seen after a few; a restart forgets them', () => {
    const s = new Stream('cam');
    s.start(tracks);
    for (const f of [0, 3, 1, 2]) s.publish(at(f, f === 0));
    expect(s.videoReordered).toBe(false); // two reordered frames could be a glitch
    for (const f of [6, 4, 5]) s.publish(at(f));
    expect(s.videoReordered).toBe(true);
    s.start(tracks);
    expect(s.videoReordered).toBe(false);
  });

  it('a camera clock that jumps back (0.8 s, as GStreamer did for a shared stream), or audio, is not reordering', () => {
    const s = new Stream('cam');
    s.start(tracks);
    let f = 0;
    for (let k = 0; k < 5; k++) {
      for (let i = 0; i < 10; i++) s.publish(at(f++, i === 0));
      f -= 30; // the next frame 20 frames (0.8 s) before the last, then on from there
    }
    for (let i = 0; i < 10; i++) s.publish(audio(10 - i));
    // Back to the first frame's timestamp and on from there (GStreamer's shared stream did this).
    for (const g of [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 7]) s.publish(at(1000 + g, g === 0));
    expect(s.videoReordered).toBe(false);
  });
});
