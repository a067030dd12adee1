/**
 * LL-HLS playlists (RFC 8216bis): the multivariant playlist and the media playlist with parts,
 * preload hint, server control and delta updates. Pure text rendering from the muxer's window.
 */
import type { HlsMuxer, Segment } from './muxer.ts';

export const MEDIA_PLAYLIST = 'stream.m3u8';

function fmtDuration(s: number): string {
  return s.toFixed(5);
}

/** Query string appended to every URI a playlist emits (?token=…&session=…), '' when empty. */
export function uriSuffix(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

function quote(s: string): string {
  return `"${s.replace(/"/g, '')}"`;
}

export function multivariantPlaylist(m: HlsMuxer, suffix: string): string {
  const v = m.videoInfo;
  const attrs = [`BANDWIDTH=${m.bandwidth}`, `CODECS=${quote(m.codecStrings.join(','))}`];
  if (v.width && v.height) attrs.push(`RESOLUTION=${v.width}x${v.height}`);
  if (v.fps) attrs.push(`FRAME-RATE=${v.fps.toFixed(3)}`);
  return ['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-INDEPENDENT-SEGMENTS', `#EXT-X-STREAM-INF:${attrs.join(',')}`, `${MEDIA_PLAYLIST}${suffix}`, ''].join('\n');
}

export interface MediaPlaylistOptions {
  /** `_HLS_skip=YES`: a delta update with EXT-X-SKIP. */
  skip?: boolean;
}

/** Seconds of Skip Boundary advertised in CAN-SKIP-UNTIL: six target durations (RFC 8216bis §4.4.3.8). */
export function skipUntil(m: HlsMuxer): number {
  return 6 * m.targetDuration;
}

export function partHoldBack(m: HlsMuxer): number {
  return 3 * m.partTarget;
}

export function mediaPlaylist(m: HlsMuxer, suffix: string, opts: MediaPlaylistOptions = {}): string {
  const target = m.targetDuration;
  const all: Segment[] = [...m.segments];
  const open = m.openSegment;
  if (open && open.parts.length > 0) all.push(open);
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=${skipUntil(m).toFixed(1)},PART-HOLD-BACK=${partHoldBack(m).toFixed(3)}`,
    `#EXT-X-PART-INF:PART-TARGET=${m.partTarget.toFixed(3)}`,
    `#EXT-X-MEDIA-SEQUENCE:${all[0]?.msn ?? m.msnAfter - 1}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${m.discontinuitySequence}`,
  ];
  const total = all.reduce((a, s) => a + s.duration, 0);
  // Start times from the end, for the skip boundary and for which segments list their parts.
  const ends: number[] = [];
  let t = 0;
  for (const s of all) {
    t += s.duration;
    ends.push(t);
  }
  let skipped = 0;
  if (opts.skip) {
    const boundary = skipUntil(m);
    while (skipped < all.length - 1 && all[skipped]!.complete && total - ends[skipped]! >= boundary) skipped++;
    lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
  }
  // Parts are listed for segments within three target durations of the live edge (§4.4.4.9).
  const partsFrom = total - 3 * target;
  let lastInit = '';
  for (let i = skipped; i < all.length; i++) {
    const s = all[i]!;
    if (s.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    if (s.init !== lastInit) {
      lines.push(`#EXT-X-MAP:URI=${quote(s.init + suffix)}`);
      lastInit = s.init;
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateTime).toISOString()}`);
    if (ends[i]! > partsFrom || !s.complete) {
      for (const p of s.parts) {
        lines.push(`#EXT-X-PART:DURATION=${fmtDuration(p.duration)},URI=${quote(p.name + suffix)}${p.independent ? ',INDEPENDENT=YES' : ''}`);
      }
    }
    if (s.complete) {
      lines.push(`#EXTINF:${fmtDuration(s.duration)},`);
      lines.push(s.name + suffix);
    }
  }
  lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI=${quote(m.nextPart.name + suffix)}`);
  lines.push('');
  return lines.join('\n');
}
