// A thin typed wrapper over the independent mp4box.js parser (npm mp4box, no TypeScript types).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MP4Box = require('mp4box') as any;

export interface ParsedTrack {
  id: number;
  codec: string;
  timescale: number;
  type: string;
  width?: number;
  height?: number;
  samples: { dts: number; cts: number; duration: number; isSync: boolean; size: number }[];
}

/** Parses an init segment followed by fragments; returns every track with its samples. */
export function parseFmp4(buf: Buffer): { brands: string[]; fragmented: boolean; tracks: ParsedTrack[] } {
  const f = MP4Box.createFile();
  let info: any;
  const samples = new Map<number, ParsedTrack['samples']>();
  f.onError = (e: unknown) => {
    throw new Error(`mp4box: ${String(e)}`);
  };
  f.onReady = (i: any) => {
    info = i;
    for (const t of i.tracks) {
      samples.set(t.id, []);
      f.setExtractionOptions(t.id, null, { nbSamples: 100000 });
    }
    f.start();
  };
  f.onSamples = (id: number, _user: unknown, s: any[]) => {
    for (const x of s) samples.get(id)!.push({ dts: x.dts, cts: x.cts, duration: x.duration, isSync: x.is_sync, size: x.size });
  };
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer & { fileStart: number };
  ab.fileStart = 0;
  f.appendBuffer(ab);
  f.flush();
  if (!info) throw new Error('mp4box: no moov');
  return {
    brands: info.brands,
    fragmented: info.isFragmented,
    tracks: info.tracks.map((t: any) => ({
      id: t.id,
      codec: t.codec,
      timescale: t.timescale,
      type: t.type,
      width: t.video?.width,
      height: t.video?.height,
      samples: samples.get(t.id) ?? [],
    })),
  };
}
