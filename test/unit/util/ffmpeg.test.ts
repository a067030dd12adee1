import { describe, it, expect, afterEach } from 'vitest';
import { writeFileSync, chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findFfmpeg, resetFfmpegLookup } from '../../../src/util/ffmpeg.ts';

const saved = { FFMPEG_PATH: process.env.FFMPEG_PATH, PATH: process.env.PATH };
afterEach(() => {
  process.env.FFMPEG_PATH = saved.FFMPEG_PATH;
  if (saved.FFMPEG_PATH === undefined) delete process.env.FFMPEG_PATH;
  process.env.PATH = saved.PATH;
  resetFfmpegLookup();
});

describe('findFfmpeg', () => {
  it('prefers FFMPEG_PATH', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ffm-'));
    const fake = path.join(dir, 'my-ffmpeg');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o755);
    process.env.FFMPEG_PATH = fake;
    resetFfmpegLookup();
    expect(findFfmpeg()).toBe(fake);
  });

  it('falls back to ffmpeg on PATH when FFMPEG_PATH is unusable and ffmpeg-static has no binary', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ffm-'));
    const fake = path.join(dir, 'ffmpeg');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o755);
    process.env.FFMPEG_PATH = path.join(dir, 'missing');
    process.env.PATH = dir;
    resetFfmpegLookup();
    const found = findFfmpeg();
    // ffmpeg-static's binary is only present where its install script could download it.
    expect([fake, expect.stringContaining('ffmpeg-static')]).toContainEqual(found);
  });

  it('returns null when nothing is found', () => {
    process.env.FFMPEG_PATH = '/nonexistent/ffmpeg';
    process.env.PATH = mkdtempSync(path.join(tmpdir(), 'ffm-'));
    resetFfmpegLookup();
    const found = findFfmpeg();
    if (found !== null) expect(found).toContain('ffmpeg-static');
    else expect(found).toBeNull();
  });
});
