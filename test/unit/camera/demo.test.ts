import { describe, it, expect, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Stream } from '../../../src/stream/stream.ts';
import { Camera } from '../../../src/camera/camera.ts';
import { loadDemoClip, DemoSource } from '../../../src/camera/demo.ts';
import { joinAnnexB } from '../../../src/codecs/annexb.ts';
import type { AccessUnit } from '../../../src/stream/types.ts';
import type { CameraConfig } from '../../../src/config/types.ts';
import { haveTools } from '../../helpers/tools.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const demoConfig: CameraConfig = { id: 'demo', name: 'Demo', url: 'builtin:demo', transport: 'auto', audio: 'auto', onDemand: false, enabled: true, tags: [] };

describe('built-in demo camera', () => {
  it('loads the bundled clip: 200 H.264 frames 640x360 with a keyframe every 50, and 375 AAC frames', async () => {
    const clip = await loadDemoClip();
    expect(clip.video).toHaveLength(200);
    expect(clip.video.filter((f) => f.keyframe)).toHaveLength(4);
    expect(clip.audio).toHaveLength(375);
    expect(clip.tracks[0]).toMatchObject({ kind: 'video', codec: 'H264', params: { width: 640, height: 360, fps: 25, codecString: 'avc1.4d401e' } });
    expect(clip.tracks[1]).toMatchObject({ kind: 'audio', codec: 'AAC', clockRate: 48000, params: { codecString: 'mp4a.40.2', sampleRate: 48000, channels: 1 } });
  });

  it('feeds the hub in real time with continuous timestamps, and the video decodes', async () => {
    const stream = new Stream('demo');
    const cam = new Camera({ config: demoConfig, stream, logger: silent });
    const aus: AccessUnit[] = [];
    stream.on('online', () => {
      const c = stream.subscribe();
      void (async () => {
        for await (const au of c) aus.push(au);
      })();
    });
    cam.start();
    await new Promise((r) => setTimeout(r, 1500));
    const status = cam.status();
    await cam.stop();
    expect(status.state).toBe('streaming');
    expect(status.transport).toBe('builtin');
    expect(status.tracks.map((t) => t.codec)).toEqual(['H264', 'AAC']);
    const video = aus.filter((a) => a.track === 0);
    const audio = aus.filter((a) => a.track === 1);
    // ~1.5 s of real-time pacing at 25 fps and 46.875 AAC frames/s
    expect(video.length).toBeGreaterThanOrEqual(30);
    expect(video.length).toBeLessThanOrEqual(40);
    expect(audio.length).toBeGreaterThanOrEqual(55);
    expect(video[0]!.keyframe).toBe(true);
    for (let i = 1; i < video.length; i++) expect(video[i]!.pts - video[i - 1]!.pts).toBe(3600);
    for (let i = 1; i < audio.length; i++) expect(audio[i]!.pts - audio[i - 1]!.pts).toBe(1024);
    expect(status.quality.bitrateKbps).toBeGreaterThan(100);
    if (haveTools('ffprobe')) {
      const es = joinAnnexB(video.flatMap((a) => a.data));
      const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames,width,height', '-of', 'json', '-f', 'h264', '-'], { input: es });
      const s = JSON.parse(r.stdout.toString()).streams[0];
      expect(Number(s.nb_read_frames)).toBe(video.length);
      expect([s.width, s.height]).toEqual([640, 360]);
    }
  });

  it('keeps timestamps continuous across the loop point (8 s clip, 9 s of fake time)', async () => {
    await loadDemoClip();
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setImmediate', 'Date'] });
    try {
      const src = new DemoSource();
      const aus: AccessUnit[] = [];
      await src.start({ accessUnit: (au) => aus.push(au), trackParams() {}, close() {}, quirk() {} });
      src.ready();
      await vi.advanceTimersByTimeAsync(9000);
      await src.stop();
      const video = aus.filter((a) => a.track === 0);
      const audio = aus.filter((a) => a.track === 1);
      expect(video.length).toBeGreaterThanOrEqual(225);
      expect(audio.length).toBeGreaterThanOrEqual(421);
      for (let i = 1; i < video.length; i++) expect(video[i]!.pts - video[i - 1]!.pts).toBe(3600);
      for (let i = 1; i < audio.length; i++) expect(audio[i]!.pts - audio[i - 1]!.pts).toBe(1024);
      // frame 200 is the first frame of the second loop: a keyframe again
      expect(video[200]!.keyframe).toBe(true);
      expect(video[200]!.pts).toBe(200 * 3600);
      // wall clock follows the media clock
      expect(video[200]!.wallclock - video[0]!.wallclock).toBe(8000);
    } finally {
      vi.useRealTimers();
    }
  });
});
