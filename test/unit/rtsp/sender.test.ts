import { describe, it, expect } from 'vitest';
import { Stream } from '../../../src/stream/stream.ts';
import type { AccessUnit, TrackInfo } from '../../../src/stream/types.ts';
import { RtpSender, type RtpSink, type SenderTrack } from '../../../src/rtsp/server/sender.ts';
import { StreamRtp, forEachFramed, type RtpFrame } from '../../../src/rtsp/server/shared.ts';

const tracks: TrackInfo[] = [{ id: 0, kind: 'video', codec: 'H264', clockRate: 90000, params: {} }];

function video(i: number, keyframe: boolean): AccessUnit {
  // One small IDR or non-IDR NAL unit per unit; its second byte carries the unit's number.
  const nal = Buffer.from([keyframe ? 0x65 : 0x41, i & 0xff, 0x88, 0x80]);
  return { track: 0, codec: 'H264', pts: i * 3600, dts: i * 3600, clockRate: 90000, wallclock: 1_000_000 + i * 40, keyframe, data: [nal], epoch: 1 };
}

/** A sink that records what it is given, with a backlog the test sets (a TCP reader that stopped reading). */
class RecordingSink implements RtpSink {
  readonly units: number[] = [];
  readonly seqs: number[] = [];
  pending = 0;
  private drained: ((v: boolean) => void) | undefined;
  backlog(): number {
    return this.pending;
  }
  waitDrain(): Promise<boolean> {
    return new Promise((resolve) => (this.drained = resolve));
  }
  drain(): void {
    this.pending = 0;
    this.drained?.(true);
  }
  sendFrame(_t: SenderTrack, f: RtpFrame): void {
    forEachFramed(f.data, (o) => {
      this.seqs.push(f.data.readUInt16BE(o + 2));
      this.units.push(f.data[o + 12 + 1]!);
    });
  }
  sendRtcp(): void {}
}

function startReader(stream: Stream, sink: RecordingSink) {
  const shared = new StreamRtp(stream);
  const t = shared.track(tracks[0]!, 96);
  const sender = new RtpSender(stream, [{ ...t, packets: 0, octets: 0 }], sink, { label: 'test', srIntervalMs: 5000, highWaterBytes: 1000, stuckTimeoutMs: 60_000 }, shared);
  sender.prepare();
  sender.run();
  return sender;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('RtpSender', () => {
  it('a caught-up reader gets each unit inside publish(), in order and numbered without gaps', async () => {
    const stream = new Stream('cam');
    stream.start(tracks);
    stream.publish(video(0, true));
    const sink = new RecordingSink();
    const sender = startReader(stream, sink);
    await tick(); // the GOP cache (unit 0) goes out through the loop
    expect(sink.units).toEqual([0]);
    for (let i = 1; i <= 5; i++) {
      stream.publish(video(i, false));
      // No await: the unit is already written when publish() returns.
      expect(sink.units.at(-1)).toBe(i);
    }
    expect(sink.units).toEqual([0, 1, 2, 3, 4, 5]);
    for (let k = 1; k < sink.seqs.length; k++) expect(sink.seqs[k]).toBe((sink.seqs[k - 1]! + 1) & 0xffff);
    sender.stop();
  });

  it('a backed-up reader queues behind the unit it holds and resumes in order after the drain', async () => {
    const stream = new Stream('cam');
    stream.start(tracks);
    stream.publish(video(0, true));
    const sink = new RecordingSink();
    const sender = startReader(stream, sink);
    await tick();
    stream.publish(video(1, false));
    sink.pending = 5000; // above the high-water mark: the reader stopped reading
    stream.publish(video(2, false));
    stream.publish(video(3, false));
    await tick();
    expect(sink.units).toEqual([0, 1]); // 2 waits for the drain in the loop, 3 queues behind it
    sink.drain();
    await tick();
    stream.publish(video(4, false));
    expect(sink.units).toEqual([0, 1, 2, 3, 4]); // and 4 goes out inside publish() again
    expect(sender.stalls).toBe(1);
    sender.stop();
  });
});
