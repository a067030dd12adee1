import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { splitAnnexB } from '../../src/codecs/annexb.ts';

/** Scratch folder of the benchmarks (encoded sources, configs, HLS output). */
export const BENCH_WORK = path.join(tmpdir(), 'camgate-bench');

/**
 * The benchmarks' camera: 10 s of 1280x720 25 fps H.264 at a constant 4 Mbit/s, 2 s GOP, no
 * B-frames, AUD-delimited. Encoded once into BENCH_WORK; returns the Annex-B file.
 */
export function fourMbitSource(): string {
  mkdirSync(BENCH_WORK, { recursive: true });
  const file = path.join(BENCH_WORK, 'h264-720p25-4mbit.h264');
  if (!existsSync(file)) {
    process.stderr.write('bench: encoding a 10 s 4 Mbit/s 720p H.264 source once…\n');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25', '-t', '10',
      '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '0', '-g', '50', '-b:v', '4M', '-minrate', '4M', '-maxrate', '4M', '-bufsize', '2M',
      '-x264-params', 'nal-hrd=cbr:aud=1', '-f', 'h264', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return file;
}

/** The source's access units (NAL unit lists, split at the AUDs, AUDs dropped). */
export function fourMbitAccessUnits(): Buffer[][] {
  const aus: Buffer[][] = [];
  let cur: Buffer[] = [];
  for (const n of splitAnnexB(readFileSync(fourMbitSource()))) {
    if ((n[0]! & 0x1f) === 9) {
      if (cur.length) aus.push(cur);
      cur = [];
      continue;
    }
    cur.push(n);
  }
  if (cur.length) aus.push(cur);
  return aus;
}
