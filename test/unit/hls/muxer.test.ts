/**
 * fMP4 writer + LL-HLS muxer + playlists, fed with access units rebuilt from real encoder RTP
 * captures. Boxes are checked with mp4box.js and ffprobe, playlists with hls-parser: all three are
 * independent of our code.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import HLS from 'hls-parser';
import { Stream } from '../../../src/stream/stream.ts';
import { HlsMuxer, type HlsMuxerOptions } from '../../../src/hls/muxer.ts';
import { mediaPlaylist, multivariantPlaylist } from '../../../src/hls/playlist.ts';
import { codecStringsFromInit } from '../../../src/hls/fmp4/codec-string.ts';
import { findBox, readBoxes } from '../../../src/hls/fmp4/box.ts';
import { accessUnits, audioClip, videoClip, WALL0, type Clip } from './fixtures.ts';
import { parseFmp4 } from './mp4box.ts';
import type { AccessUnit } from '../../../src/stream/types.ts';

const OPTS: HlsMuxerOptions = { partTargetMs: 200, segmentMinMs: 1000, segmentCount: 7, audio: 'auto' };

function run(clips: Clip[], aus: AccessUnit[], opts: Partial<HlsMuxerOptions> = {}): HlsMuxer {
  const s = new Stream('cam');
  s.start(clips.map((c) => c.track));
  const m = new HlsMuxer(s, { ...OPTS, ...opts });
  for (const au of aus) m.push(au);
  return m;
}

/** init + every part of every segment in the window, in order: one playable fMP4 file. */
function wholeFile(m: HlsMuxer): Buffer {
  const segs = [...m.segments, ...(m.openSegment ? [m.openSegment] : [])];
  return Buffer.concat([m.init(segs[0]!.init)!, ...segs.flatMap((s) => s.parts.map((p) => p.data))]);
}

function ffprobe(file: Buffer): { codec: string; width: number; height: number; frames: number; audio?: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'hls-'));
  try {
    const f = path.join(dir, 'a.mp4');
    writeFileSync(f, file);
    const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', f], { encoding: 'utf8' });
    const j = JSON.parse(r.stdout) as { streams: { codec_type: string; codec_name: string; width: number; height: number; nb_read_frames: string }[] };
    const v = j.streams.find((s) => s.codec_type === 'video')!;
    const a = j.streams.find((s) => s.codec_type === 'audio');
    return { codec: v.codec_name, width: v.width, height: v.height, frames: Number(v.nb_read_frames), audio: a?.codec_name };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('fMP4 boxes (checked with mp4box.js and ffprobe)', () => {
  for (const [codec, extra] of [
    ['H264', 'AAC'],
    ['H265', 'OPUS'],
    ['H264', 'OPUS'],
  ] as const) {
    it(`${codec} + ${extra}: init and fragments parse, codec strings match, tfdt continuous, every frame decodes`, () => {
      const v = videoClip(codec);
      const a = audioClip(extra);
      const m = run([v, a], accessUnits([v, a], 3));
      const init = m.init(m.segments[0]!.init)!;
      // ftyp iso6, moov with mvex/trex for both tracks
      expect(init.toString('latin1', 8, 12)).toBe('iso6');
      expect(readBoxes(findBox(init, ['moov', 'mvex'])! && init, findBox(init, ['moov', 'mvex'])!.payload, findBox(init, ['moov', 'mvex'])!.end).map((b) => b.type)).toEqual(['trex', 'trex']);
      const file = wholeFile(m);
      const parsed = parseFmp4(file);
      expect(parsed.fragmented).toBe(true);
      expect(parsed.brands).toContain('iso6');
      const ours = codecStringsFromInit(init);
      // mp4box derives the codec string on its own; ours goes into CODECS.
      expect(parsed.tracks.map((t) => t.codec.toLowerCase())).toEqual(ours.map((c) => c.toLowerCase()));
      expect(ours[0]).toBe(codec === 'H264' ? v.track.params.codecString : ours[0]);
      if (codec === 'H265') expect(ours[0]!.toLowerCase()).toBe(v.track.params.codecString!.toLowerCase());
      expect(ours[1]).toBe(extra === 'AAC' ? 'mp4a.40.2' : 'opus');
      const video = parsed.tracks[0]!;
      expect(video).toMatchObject({ width: 320, height: 240, timescale: 90000 });
      // 3 loops of 30 frames: the last one is held back (its duration is not known yet) and the two
      // before it wait for their part to fill up.
      expect(video.samples.length).toBe(87);
      for (let i = 1; i < video.samples.length; i++) {
        expect(video.samples[i]!.dts).toBe(video.samples[i - 1]!.dts + video.samples[i - 1]!.duration);
        expect(Math.abs(video.samples[i - 1]!.duration - 6000)).toBeLessThanOrEqual(1); // GStreamer's ns→90 kHz rounding
      }
      expect(video.samples.filter((s) => s.isSync).length).toBe(6);
      const audio = parsed.tracks[1]!;
      expect(audio.samples.length).toBeGreaterThan(50);
      for (let i = 1; i < audio.samples.length; i++) expect(audio.samples[i]!.dts).toBe(audio.samples[i - 1]!.dts + audio.samples[i - 1]!.duration);
      const probe = ffprobe(file);
      expect(probe).toMatchObject({ codec: codec === 'H264' ? 'h264' : 'hevc', width: 320, height: 240, frames: 87, audio: extra === 'AAC' ? 'aac' : 'opus' });
    });
  }

  it('video decoded before it is presented (B-frames: pts - dts > 0) stays in sync with the audio', () => {
    const v = videoClip('H264');
    const a = audioClip('AAC');
    // Every frame presented two frames (2 × 6000 ticks at 15 fps) after it is decoded, as a stream with
    // a reorder depth of 2 is; the wall clock follows the presentation time, as at ingest.
    const reorder = 12000;
    const aus = accessUnits([v, a], 2).map((au) => (au.track === v.track.id ? { ...au, pts: au.pts + reorder, wallclock: au.wallclock + (reorder / 90000) * 1000 } : au));
    const m = run([v, a], aus);
    const [video, audio] = parseFmp4(wholeFile(m)).tracks;
    expect(video!.samples.every((x) => x.cts - x.dts === reorder)).toBe(true);
    // The audio sample and the video frame captured at the same moment are presented at the same time.
    const firstVideoWall = Math.min(...aus.filter((x) => x.track === v.track.id).map((x) => x.wallclock));
    const firstAudioWall = Math.min(...aus.filter((x) => x.track === a.track.id).map((x) => x.wallclock));
    const videoPresentedS = video!.samples[0]!.cts / 90000;
    const audioPresentedS = audio!.samples[0]!.cts / a.track.clockRate;
    expect(Math.abs(videoPresentedS - audioPresentedS - (firstVideoWall - firstAudioWall) / 1000)).toBeLessThan(0.002);
  });

  it('H.264 High 640x360 video only', () => {
    const v = videoClip('H264', 'h264_x264_640x360_fua.rtp');
    const m = run([v], accessUnits([v], 2));
    const file = wholeFile(m);
    const t = parseFmp4(file).tracks;
    expect(t.length).toBe(1);
    expect(t[0]!.codec).toBe(m.codecStrings[0]);
    expect(m.codecStrings[0]).toMatch(/^avc1\.64/);
    expect(ffprobe(file)).toMatchObject({ codec: 'h264', width: 640, height: 360, frames: 57 });
  });
});

describe('LL-HLS muxer cutting and playlists (checked with hls-parser)', () => {
  it('parts ≤ target, independent exactly at keyframes, segments start at keyframes, PDT in ms', () => {
    const v = videoClip('H264');
    const a = audioClip('AAC');
    const m = run([v, a], accessUnits([v, a], 6)); // 12 s of 15 fps, IDR every 1 s
    const text = mediaPlaylist(m, '?token=abc');
    const pl = HLS.parse(text) as HLS.types.MediaPlaylist;
    expect(pl.isMasterPlaylist).toBe(false);
    expect(pl.version).toBe(9);
    expect(pl.targetDuration).toBe(1);
    expect(pl.lowLatencyCompatibility).toMatchObject({ canBlockReload: true, canSkipUntil: 6 });
    expect(pl.lowLatencyCompatibility!.partHoldBack).toBeGreaterThanOrEqual(3 * pl.partTargetDuration! - 1e-9);
    expect(pl.partTargetDuration).toBeCloseTo(0.2, 5);
    expect(pl.segments.length).toBe(8); // 7 complete + the open one (parts only)
    expect(pl.mediaSequenceBase).toBe(m.segments[0]!.msn);
    expect(pl.prefetchSegments.length).toBe(0);
    // hls-parser exposes the preload hint on the playlist
    expect(text.match(/#EXT-X-PRELOAD-HINT/g)!.length).toBe(1);
    expect(text).toMatch(new RegExp(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${m.nextPart.name}\\?token=abc"`));
    let partCount = 0;
    const hints: string[] = [];
    for (const seg of pl.segments) {
      expect(seg.programDateTime!.toISOString()).toMatch(/\.\d{3}Z$/);
      if (seg.uri) {
        expect(seg.uri).toMatch(/\?token=abc$/);
        expect(Math.round(seg.duration)).toBeLessThanOrEqual(pl.targetDuration);
      }
      for (const [i, p] of (seg.parts ?? []).entries()) {
        if (p.hint) {
          hints.push(p.uri);
          continue;
        }
        partCount++;
        expect(p.duration).toBeLessThanOrEqual(0.2 + 1e-9);
        expect(p.uri).toMatch(/\?token=abc$/);
        // x264 capture: IDR every 15 frames = every segment start; exactly the first part is independent
        expect(!!p.independent).toBe(i === 0);
      }
    }
    expect(partCount).toBeGreaterThan(10);
    expect(hints).toEqual([`${m.nextPart.name}?token=abc`]);
    // Every segment begins with a sync sample; segment durations are 1 s (15 frames at 15 fps)
    for (const s of m.segments) {
      expect(s.parts[0]!.independent).toBe(true);
      expect(s.duration).toBeCloseTo(1, 3);
    }
    // PROGRAM-DATE-TIME from the access units' wall clocks (WALL0 + media time)
    const first = m.segments[0]!;
    expect(Math.abs(((first.programDateTime - WALL0 + 500) % 1000) - 500)).toBeLessThan(1); // segments start on whole seconds of the clip
    // Parts are listed only within 3 target durations of the live edge
    expect(pl.segments[0]!.parts?.length ?? 0).toBe(0);
    expect(pl.segments[pl.segments.length - 2]!.parts!.length).toBe(5); // 1 s of 0.2 s parts
  });

  it('multivariant: CODECS from the init segment, RESOLUTION, FRAME-RATE, BANDWIDTH', () => {
    const v = videoClip('H264');
    const a = audioClip('AAC');
    const m = run([v, a], accessUnits([v, a], 3));
    const pl = HLS.parse(multivariantPlaylist(m, '?session=x')) as HLS.types.MasterPlaylist;
    expect(pl.isMasterPlaylist).toBe(true);
    const variant = pl.variants[0]!;
    expect(variant.codecs).toBe(`${v.track.params.codecString},mp4a.40.2`);
    expect(variant.resolution).toEqual({ width: 320, height: 240 });
    expect(variant.frameRate).toBe(15);
    expect(variant.bandwidth).toBeGreaterThan(10_000);
    expect(variant.uri).toBe('stream.m3u8?session=x');
  });

  it('delta update: EXT-X-SKIP replaces segments older than the skip boundary', () => {
    const v = videoClip('H264');
    const m = run([v], accessUnits([v], 6), { segmentCount: 9 });
    const full = HLS.parse(mediaPlaylist(m, '')) as HLS.types.MediaPlaylist;
    const text = mediaPlaylist(m, '', { skip: true });
    const skipped = Number(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/.exec(text)![1]);
    // 9 complete 1 s segments + open; boundary 6 s: the oldest complete segments whose end is ≥ 6 s from the end
    expect(skipped).toBeGreaterThanOrEqual(3);
    const delta = HLS.parse(text) as HLS.types.MediaPlaylist;
    expect(delta.segments.length).toBe(full.segments.length - skipped);
    expect(delta.segments[0]!.mediaSequenceNumber).toBe(full.segments[skipped]!.mediaSequenceNumber);
  });

  it('reconnect: DISCONTINUITY + new MAP, media sequence continues, decode times keep increasing', () => {
    const v = videoClip('H264');
    const a = audioClip('AAC');
    const first = accessUnits([v, a], 3, 1);
    const second = accessUnits([v, a], 3, 2, 10_000); // the camera came back 10 s later, timestamps restarted
    const m = run([v, a], [...first, ...second]);
    const text = mediaPlaylist(m, '');
    const pl = HLS.parse(text) as HLS.types.MediaPlaylist;
    const idx = pl.segments.findIndex((s) => s.discontinuity);
    expect(idx).toBeGreaterThan(0);
    expect(text.match(/#EXT-X-MAP/g)!.length).toBe(2);
    const msns = pl.segments.map((s) => s.mediaSequenceNumber);
    for (let i = 1; i < msns.length; i++) expect(msns[i]).toBe(msns[i - 1]! + 1);
    // the segment after the discontinuity is dated by the new wall clock
    expect(pl.segments[idx]!.programDateTime!.getTime() - WALL0).toBeGreaterThanOrEqual(10_000);
    const file = Buffer.concat([m.init(m.segments[idx]!.init)!, ...m.segments.slice(idx).flatMap((s) => s.parts.map((p) => p.data))]);
    const t = parseFmp4(file).tracks[0]!;
    expect(t.samples[0]!.dts).toBeGreaterThanOrEqual(3 * 2 * 90000 - 6000);
  });

  it('blocking-reload bookkeeping: has(msn, part), lastMsn, and old MSNs', () => {
    const v = videoClip('H264');
    const m = run([v], accessUnits([v], 3));
    const last = m.lastPart()!;
    expect(m.has(last.msn, last.index)).toBe(true);
    expect(m.has(last.msn, last.index + 1)).toBe(false);
    expect(m.has(last.msn)).toBe(false); // open segment
    expect(m.has(last.msn - 1)).toBe(true);
    expect(m.has(0, 0)).toBe(true);
    expect(m.lastMsn).toBe(last.msn);
  });

  it('TARGETDURATION is fixed from the first playlist: known GOP, or 4 s while unknown; never decreases', () => {
    const v = videoClip('H264'); // 15 fps, IDR every 1 s
    const aus = accessUnits([v], 4);
    const firstGop = aus.findIndex((au, i) => i > 0 && au.keyframe);
    const targets = (m: HlsMuxer) => (HLS.parse(mediaPlaylist(m, '')) as HLS.types.MediaPlaylist).targetDuration;
    // keyframe interval unknown (camera connected by this request), only the first GOP so far
    const unknown = run([v], aus.slice(0, firstGop));
    expect(unknown.segments.length).toBe(0);
    expect(targets(unknown)).toBe(4);
    for (const au of aus.slice(firstGop)) unknown.push(au);
    expect(unknown.segments.length).toBeGreaterThan(1);
    expect(targets(unknown)).toBe(4); // latched: the 1 s segments don't shrink it
    // the camera's measured interval known up front: right from the first playlist
    const known = run([v], aus.slice(0, firstGop), { keyframeIntervalMs: 1000 });
    expect(targets(known)).toBe(1);
    for (const au of aus.slice(firstGop)) known.push(au);
    expect(targets(known)).toBe(1);
    // unknown, but rendered only after segments completed: their real length
    expect(targets(run([v], aus))).toBe(1);
  });

  it('MJPEG-only streams and G.711 without transcode explain themselves', () => {
    const v = videoClip('H264');
    const s = new Stream('c');
    s.start([v.track, { id: 1, kind: 'audio', codec: 'PCMA', clockRate: 8000, params: {} }]);
    const m = new HlsMuxer(s, OPTS);
    for (const au of accessUnits([v], 1)) m.push(au);
    expect(m.codecStrings).toEqual([v.track.params.codecString]);
    expect(m.notes.join()).toMatch(/PCMA audio is not playable in HLS; set "audio: transcode"/);
  });
});
