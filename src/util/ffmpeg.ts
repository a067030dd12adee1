import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

function executable(p: string | undefined | null): p is string {
  if (!p) return false;
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

let cached: string | null | undefined;

/**
 * The ffmpeg binary, found in this order: `FFMPEG_PATH`, the optional `ffmpeg-static` package (its
 * install downloads a binary, which fails offline, so it may be absent), then `ffmpeg` on PATH.
 * ffmpeg is used only for snapshots and audio/codec transcoding, never in the normal remux path.
 * Returns null when none is found.
 */
export function findFfmpeg(): string | null {
  if (cached !== undefined) return cached;
  const fromEnv = process.env.FFMPEG_PATH;
  if (executable(fromEnv)) return (cached = fromEnv);
  try {
    const req = createRequire(import.meta.url);
    const p = req('ffmpeg-static') as string | null;
    if (executable(p)) return (cached = p);
  } catch {
    // not installed (optional dependency)
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = dir && path.join(dir, 'ffmpeg');
    if (executable(p)) return (cached = p);
  }
  return (cached = null);
}

/** For tests: forget the cached lookup. */
export function resetFfmpegLookup(): void {
  cached = undefined;
}
