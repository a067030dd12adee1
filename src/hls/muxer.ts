/**
 * The LL-HLS muxer of one stream: hub access units → fMP4 parts (one moof+mdat each) → segments
 * that start at keyframes, kept in a sliding window in memory. Nothing is written to disk.
 *
 * Cutting rules (times are media times from the RTP timestamps, never wall-clock time, so the
 * GOP-cache pre-fill is cut exactly like live media):
 * - a part is closed as soon as the next lead-track sample would make it longer than the part target;
 * - a keyframe always starts a new part, and starts a new segment once the open segment has reached
 *   the minimum segment duration (so segments start at keyframes and parts with INDEPENDENT=YES are
 *   exactly the parts that start with one);
 * - a new epoch (camera reconnect) or changed parameter sets close everything and open a segment
 *   with a DISCONTINUITY (and a new init segment), while the media sequence keeps counting.
 *
 * The "lead" track is the video track (or the audio track of an audio-only stream); a sample's
 * duration is only known when the next one arrives, so each track holds one sample back.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Stream } from '../stream/stream.ts';
import type { Consumer } from '../stream/consumer.ts';
import type { AccessUnit, TrackInfo } from '../stream/types.ts';
import type { AudioMode } from '../config/types.ts';
import { buildInitSegment, type Fmp4Track } from './fmp4/init.ts';
import { buildFragment, type Fmp4Sample } from './fmp4/fragment.ts';
import { codecStringsFromInit } from './fmp4/codec-string.ts';
import { G711Transcoder, TRANSCODE_ASC, TRANSCODE_ASC_BYTES } from './transcode.ts';

export interface HlsMuxerOptions {
  partTargetMs: number;
  segmentMinMs: number;
  segmentCount: number;
  audio: AudioMode;
  /** ffmpeg binary for G.711 → AAC, when audio is 'transcode'. */
  ffmpeg?: string | null;
  /** First media sequence number (continues across muxer restarts of the same stream). */
  firstMsn?: number;
  /** Known keyframe interval, so TARGETDURATION is right from the first playlist. */
  keyframeIntervalMs?: number;
}

export interface Part {
  name: string;
  msn: number;
  index: number;
  data: Buffer;
  /** Lead-track duration in seconds. */
  duration: number;
  independent: boolean;
}

export interface Segment {
  msn: number;
  name: string;
  parts: Part[];
  /** Seconds (sum of parts). */
  duration: number;
  /** EXT-X-PROGRAM-DATE-TIME: wall-clock ms of the first lead sample. */
  programDateTime: number;
  discontinuity: boolean;
  /** Name of the init segment (EXT-X-MAP) this segment needs. */
  init: string;
  complete: boolean;
  bytes: number;
  private_data?: Buffer;
}

interface TrackState {
  hubTrack: number;
  fmp4Id: number;
  kind: 'video' | 'audio';
  timescale: number;
  /** dts origin for this epoch: decode time of the first sample and its source pts. */
  origin?: { pts: number; dts: number };
  pending?: { dts: number; cto: number; keyframe: boolean; data: Buffer; wallclock: number };
  lastDuration: number;
  nominalDuration: number;
  samples: Fmp4Sample[];
  firstDts?: number;
  /** Decode time just past the last committed sample. */
  endDts: number;
}

const H264_PARAM_NALS = new Set([7, 8, 9]); // SPS, PPS, AUD
const H265_PARAM_NALS = new Set([32, 33, 34, 35]); // VPS, SPS, PPS, AUD
/** Segments kept after they left the window, so players that just read an older playlist can finish. */
const GRACE_SEGMENTS = 3;
/**
 * Keyframe interval assumed for TARGETDURATION while the camera's is unknown: IP cameras' usual GOPs
 * are 1–4 s. A longer GOP still makes TARGETDURATION grow (the only way to stay truthful).
 */
const UNKNOWN_GOP_MS = 4000;
/** A GOP longer than this is cut anyway (the segment then starts without a keyframe). */
const MAX_SEGMENT_MS = 30_000;
/**
 * Media time of the first sample, in seconds. Not 0: a B-frame stream's decode timeline starts
 * before the presentation time of its first keyframe (see dtsOf), and tfdt is unsigned.
 */
const TIMELINE_START_S = 10;

function nalType(codec: string, nal: Buffer): number {
  return codec === 'H265' ? (nal[0]! >> 1) & 0x3f : nal[0]! & 0x1f;
}

function lengthPrefixed(nals: Buffer[]): Buffer {
  let n = 0;
  for (const x of nals) n += 4 + x.length;
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  for (const x of nals) {
    out.writeUInt32BE(x.length, o);
    x.copy(out, o + 4);
    o += 4 + x.length;
  }
  return out;
}

export class HlsMuxer extends EventEmitter {
  readonly instance = randomBytes(3).toString('hex');
  readonly segments: Segment[] = [];
  private readonly grace: Segment[] = [];
  private current: Segment | undefined;
  private readonly inits = new Map<string, Buffer>();
  private readonly partsByName = new Map<string, Part>();
  private initName = '';
  private codecs: string[] = [];
  private nextMsn: number;
  private partSeq = 1;
  private consumer: Consumer | undefined;
  private lead: TrackState | undefined;
  private audio: TrackState | undefined;
  private epoch = -1;
  private epochWall0 = 0;
  /** Seconds: where the next epoch's timeline starts (end of everything so far). */
  private timelineSec = TIMELINE_START_S;
  private nextDiscontinuity = false;
  private paramKey = '';
  private transcoder: G711Transcoder | undefined;
  private maxSegmentSec = 0;
  private targetLatch = 0;
  private maxPartSec = 0;
  private peakBps = 0;
  private stopped = false;
  /** Why a track is not in the HLS output (shown in the camera status). */
  notes: string[] = [];
  discontinuitySequence = 0;
  lastUpdate = Date.now();

  constructor(
    readonly stream: Stream,
    readonly opts: HlsMuxerOptions,
  ) {
    super();
    this.setMaxListeners(0);
    this.nextMsn = opts.firstMsn ?? 0;
  }

  get partTarget(): number {
    return Math.max(this.opts.partTargetMs / 1000, this.maxPartSec);
  }

  /**
   * EXT-X-TARGETDURATION, which must not change during a playlist's life (RFC 8216bis §6.2.1). It
   * covers the camera's measured keyframe interval (segments are cut at keyframes). When that is
   * not known yet (a camera just connected by this very request) and no segment has completed,
   * the first playlist assumes a GOP of up to UNKNOWN_GOP_MS rather than the minimum segment
   * duration, so the value need not grow later. Latched: it never decreases once served, and it
   * only grows if a segment longer than everything assumed shows up.
   */
  get targetDuration(): number {
    let gopMs = this.opts.keyframeIntervalMs ?? 0;
    if (!gopMs && this.maxSegmentSec === 0) gopMs = UNKNOWN_GOP_MS;
    const t = Math.max(1, Math.round(Math.max(this.opts.segmentMinMs / 1000, gopMs / 1000, this.maxSegmentSec) + 0.499));
    this.targetLatch = Math.max(this.targetLatch, t);
    return this.targetLatch;
  }

  get bandwidth(): number {
    return Math.max(1000, Math.round(this.peakBps));
  }

  get codecStrings(): string[] {
    return this.codecs;
  }

  get openSegment(): Segment | undefined {
    return this.current;
  }

  get videoInfo(): { width?: number; height?: number; fps?: number } {
    const t = this.stream.tracks.find((x) => x.id === this.lead?.hubTrack && x.kind === 'video');
    return t ? { width: t.params.width, height: t.params.height, fps: t.params.fps } : {};
  }

  get hasVideo(): boolean {
    return this.lead?.kind === 'video';
  }

  /** The last part (msn, index) in the playlist, if any. */
  lastPart(): { msn: number; index: number } | undefined {
    const seg = this.current && this.current.parts.length > 0 ? this.current : this.segments[this.segments.length - 1];
    if (!seg) return undefined;
    return { msn: seg.msn, index: seg.parts.length - 1 };
  }

  /** Whether part (msn, index) exists, or with index undefined, whether segment msn is complete. */
  has(msn: number, index?: number): boolean {
    const seg = this.findSegment(msn);
    if (seg) {
      if (index === undefined) return seg.complete;
      if (index < seg.parts.length) return true;
      if (seg.complete) return true; // the part index went past the end: the next segment counts
      return false;
    }
    // Older than the window: it existed, so a blocking request for it is answered at once.
    const first = this.segments[0]?.msn ?? this.current?.msn;
    return first !== undefined && msn < first;
  }

  findSegment(msn: number): Segment | undefined {
    if (this.current?.msn === msn) return this.current;
    return this.segments.find((s) => s.msn === msn) ?? this.grace.find((s) => s.msn === msn);
  }

  init(name: string): Buffer | undefined {
    return this.inits.get(name);
  }

  /** The complete bytes of a finished segment (its parts concatenated), or undefined. */
  segmentData(msn: number): Buffer | undefined {
    const s = this.findSegment(msn);
    if (!s || !s.complete) return undefined;
    if (!s.private_data) s.private_data = Buffer.concat(s.parts.map((p) => p.data));
    return s.private_data;
  }

  part(msn: number, index: number): Part | undefined {
    return this.findSegment(msn)?.parts[index];
  }

  /**
   * Parts are named by a running fragment sequence number rather than (msn, index): the preload
   * hint then always names the part that comes next, even when a keyframe moves it into a new segment.
   */
  partName(seq: number): string {
    return `part-${this.instance}-${seq}.m4s`;
  }

  partByName(name: string): Part | undefined {
    return this.partsByName.get(name);
  }

  /** Name of the next part (EXT-X-PRELOAD-HINT) and its fragment sequence number. */
  get nextPart(): { name: string; seq: number } {
    return { name: this.partName(this.partSeq), seq: this.partSeq };
  }

  /** Whether `name` is the part the muxer will publish next (or one just after it). */
  isUpcomingPart(name: string): boolean {
    return name === this.partName(this.partSeq) || name === this.partName(this.partSeq + 1);
  }

  /** Media sequence number of the last segment in the playlist (the open one, else the last complete one). */
  get lastMsn(): number | undefined {
    return this.current && this.current.parts.length > 0 ? this.current.msn : this.segments[this.segments.length - 1]?.msn;
  }

  /** Requests held in waitFor() right now (a muxer with a held request is not idle). */
  waiting = 0;

  /** Resolves true when pred() holds (checked after every update), false after timeoutMs. */
  waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    this.waiting++;
    return new Promise((resolve) => {
      const check = () => {
        if (pred()) done(true);
        else if (this.stopped) done(false);
      };
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.off('update', check);
        this.waiting--;
        resolve(v);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.on('update', check);
    });
  }

  start(): void {
    this.consumer = this.stream.subscribe({ label: 'hls', fromGop: true, maxUnits: 4096, maxBytes: 32 * 1024 * 1024 });
    // Drain the GOP-cache pre-fill synchronously: the first playlist then answers at once.
    for (let au = this.consumer.tryNext(); au; au = this.consumer.tryNext()) this.push(au);
    const c = this.consumer;
    void (async () => {
      for (;;) {
        const au = await c.next();
        if (!au) {
          // The stream was removed (camera deleted): this muxer is done.
          if (!this.stopped) this.stop();
          return;
        }
        this.push(au);
      }
    })();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.consumer?.close();
    this.transcoder?.close();
    this.emit('update');
    this.removeAllListeners();
  }

  /** The next media sequence number a successor muxer should use. */
  get msnAfter(): number {
    return this.nextMsn + 1;
  }

  private chooseTracks(): { lead?: TrackInfo; audio?: TrackInfo } {
    const r = chooseHlsTracks(this.stream.tracks, this.opts.audio, !!this.opts.ffmpeg);
    this.notes = r.notes;
    return r;
  }

  private newTrackState(t: TrackInfo, fmp4Id: number): TrackState {
    const transcoded = t.codec === 'PCMA' || t.codec === 'PCMU';
    const timescale = transcoded ? TRANSCODE_ASC.sampleRate : t.clockRate;
    let nominal = Math.round(timescale / 25);
    if (t.kind === 'video' && t.params.fps) nominal = Math.round(timescale / t.params.fps);
    if (t.codec === 'AAC' || transcoded) nominal = 1024 * (timescale / (t.params.sampleRate ?? timescale));
    if (t.codec === 'OPUS') nominal = timescale / 50;
    return { hubTrack: t.id, fmp4Id, kind: t.kind === 'video' ? 'video' : 'audio', timescale, lastDuration: nominal, nominalDuration: nominal, samples: [], endDts: 0 };
  }

  private fmp4Track(t: TrackInfo, st: TrackState, keyframe?: AccessUnit): Fmp4Track {
    const base: Fmp4Track = { id: st.fmp4Id, kind: st.kind, codec: 'H264', timescale: st.timescale };
    if (t.codec === 'H264' || t.codec === 'H265') {
      const find = (type: number) => keyframe?.data.find((n) => n.length > 0 && nalType(t.codec, n) === type);
      const h265 = t.codec === 'H265';
      return {
        ...base,
        codec: t.codec,
        width: t.params.width,
        height: t.params.height,
        vps: h265 ? (find(32) ?? t.params.vps) : undefined,
        sps: find(h265 ? 33 : 7) ?? t.params.sps,
        pps: find(h265 ? 34 : 8) ?? t.params.pps,
      };
    }
    if (t.codec === 'OPUS') return { ...base, codec: 'OPUS', channels: t.params.channels ?? 2, sampleRate: 48000 };
    if (t.codec === 'PCMA' || t.codec === 'PCMU') {
      return { ...base, codec: 'AAC', audioSpecificConfig: TRANSCODE_ASC_BYTES, channels: TRANSCODE_ASC.channels, sampleRate: TRANSCODE_ASC.sampleRate };
    }
    return { ...base, codec: 'AAC', audioSpecificConfig: t.params.audioSpecificConfig, channels: t.params.channels ?? 1, sampleRate: t.params.sampleRate ?? t.clockRate };
  }

  /** Starts an epoch at a lead keyframe: picks tracks, writes the init segment. */
  private beginEpoch(au: AccessUnit): boolean {
    const { lead, audio } = this.chooseTracks();
    if (!lead || au.track !== lead.id) return false;
    this.lead = this.newTrackState(lead, 1);
    this.audio = audio ? this.newTrackState(audio, 2) : undefined;
    const tracks = [this.fmp4Track(lead, this.lead, au)];
    if (audio && this.audio) tracks.push(this.fmp4Track(audio, this.audio));
    let init: Buffer;
    try {
      init = buildInitSegment(tracks);
    } catch (e) {
      this.notes = [...this.notes, `HLS: cannot write the init segment: ${(e as Error).message}`];
      this.lead = undefined;
      return false;
    }
    this.initName = `init-${this.instance}-${this.nextMsn}.mp4`;
    this.inits.set(this.initName, init);
    this.codecs = codecStringsFromInit(init);
    this.paramKey = this.paramKeyOf(au);
    this.epoch = au.epoch;
    this.epochWall0 = au.wallclock;
    this.transcoder?.close();
    this.transcoder = undefined;
    if (audio && (audio.codec === 'PCMA' || audio.codec === 'PCMU') && this.opts.ffmpeg) {
      const audioState = this.audio!;
      this.transcoder = new G711Transcoder(this.opts.ffmpeg, (aac) => {
        if (this.audio === audioState && aac.epoch === this.epoch) this.addSample(audioState, aac);
      });
    }
    return true;
  }

  private paramKeyOf(au: AccessUnit): string {
    if (au.codec !== 'H264' && au.codec !== 'H265') return '';
    const set = au.codec === 'H265' ? H265_PARAM_NALS : H264_PARAM_NALS;
    return au.data.filter((n) => n.length > 0 && set.has(nalType(au.codec, n)) && nalType(au.codec, n) !== (au.codec === 'H265' ? 35 : 9)).map((n) => n.toString('base64')).join(',');
  }

  /** Feed one access unit (public for tests; the muxer normally pulls from its consumer). */
  push(au: AccessUnit): void {
    if (this.stopped) return;
    try {
      this.pushInner(au);
    } catch (e) {
      // Never let one bad access unit take the process down: drop it and resync at a keyframe.
      this.notes = [...this.notes.filter((n) => !n.startsWith('HLS: muxer error')), `HLS: muxer error: ${(e as Error).message}`];
      this.endEpoch();
    }
  }

  private pushInner(au: AccessUnit): void {
    if (this.lead && au.epoch !== this.epoch) this.endEpoch();
    if (this.lead && au.track === this.lead.hubTrack && au.keyframe && this.lead.kind === 'video' && this.paramKeyOf(au) !== this.paramKey) {
      this.endEpoch(); // new parameter sets: a new init segment
    }
    if (!this.lead) {
      if (!au.keyframe || !this.beginEpoch(au)) return;
    }
    const lead = this.lead!;
    if (au.track === lead.hubTrack) this.addLead(lead, au);
    else if (this.audio && au.track === this.audio.hubTrack) {
      if (this.transcoder) this.transcoder.push(au);
      else this.addSample(this.audio, au);
    }
  }

  private dtsOf(st: TrackState, au: AccessUnit): number {
    if (!st.origin) {
      // The wall clock is the first sample's presentation time; with B-frames it is decoded
      // (pts - dts) earlier. Anchoring the decode time there instead would show the video that much
      // after the audio.
      const sec = this.timelineSec + (au.wallclock - this.epochWall0) / 1000;
      const cto = ((au.pts - au.dts) * st.timescale) / au.clockRate;
      st.origin = { pts: au.dts, dts: Math.round(sec * st.timescale - cto) };
    }
    return st.origin.dts + Math.round(((au.dts - st.origin.pts) * st.timescale) / au.clockRate);
  }

  private sampleData(au: AccessUnit): Buffer {
    if (au.codec === 'H264' || au.codec === 'H265') {
      const set = au.codec === 'H265' ? H265_PARAM_NALS : H264_PARAM_NALS;
      return lengthPrefixed(au.data.filter((n) => n.length > 0 && !set.has(nalType(au.codec, n))));
    }
    return au.data.length === 1 ? au.data[0]! : Buffer.concat(au.data);
  }

  /** Commits the held-back sample of a track with the given duration. */
  private commit(st: TrackState, duration: number): void {
    const p = st.pending;
    if (!p) return;
    st.pending = undefined;
    if (st.samples.length === 0) st.firstDts = p.dts;
    st.samples.push({ duration, cto: p.cto, keyframe: p.keyframe, data: p.data });
    st.lastDuration = duration;
    st.endDts = p.dts + duration;
  }

  private durationTo(st: TrackState, dts: number): number {
    const p = st.pending!;
    const d = dts - p.dts;
    // A backwards or absurd jump (timestamp glitch) keeps the timeline sane with the last duration.
    return d > 0 && d < st.timescale * 5 ? d : st.lastDuration;
  }

  private addSample(st: TrackState, au: AccessUnit): void {
    const dts = this.dtsOf(st, au);
    if (dts < 0 || dts < st.endDts) return; // before the epoch's first keyframe, or overlapping
    if (st.pending) {
      if (dts <= st.pending.dts) return;
      this.commit(st, this.durationTo(st, dts));
    }
    st.pending = { dts, cto: Math.round(((au.pts - au.dts) * st.timescale) / au.clockRate), keyframe: au.keyframe || st.kind === 'audio', data: this.sampleData(au), wallclock: au.wallclock };
    if (st === this.lead) this.afterLeadSample(st);
  }

  private addLead(st: TrackState, au: AccessUnit): void {
    const dts = this.dtsOf(st, au);
    if (st.pending && dts <= st.pending.dts) return;
    const partSec = () => st.samples.reduce((a, s) => a + s.duration, 0) / st.timescale;
    if (st.pending) this.commit(st, this.durationTo(st, dts));
    const keyframe = au.keyframe || st.kind === 'audio';
    const segSec = (this.current?.duration ?? 0) + partSec();
    if (au.keyframe && st.kind === 'video') {
      this.closePart();
      // 1 ms of slack: 15 frames of 1/15 s add up to 0.99999… s in floating point.
      if (segSec * 1000 + 1 >= this.opts.segmentMinMs) this.closeSegment();
    } else if (segSec * 1000 >= MAX_SEGMENT_MS) {
      this.closePart();
      this.closeSegment();
    } else if (st.kind === 'audio' && segSec * 1000 + 1 >= this.opts.segmentMinMs && partSec() > 0 && this.current) {
      this.closePart();
      this.closeSegment();
    }
    if (!this.current) this.openSegment_(au.wallclock);
    st.pending = { dts, cto: Math.round(((au.pts - au.dts) * st.timescale) / au.clockRate), keyframe, data: this.sampleData(au), wallclock: au.wallclock };
    this.afterLeadSample(st);
  }

  /** Close the part early when the next lead sample (of about the last duration) would overflow it. */
  private afterLeadSample(st: TrackState): void {
    const sum = st.samples.reduce((a, s) => a + s.duration, 0);
    const target = (this.opts.partTargetMs / 1000) * st.timescale;
    // Half a millisecond of slack absorbs rounding of 90 kHz timestamps.
    if (st.samples.length > 0 && sum + st.lastDuration > target + st.timescale / 2000) this.closePart();
  }

  private openSegment_(wallclock: number): void {
    const msn = this.nextMsn;
    this.current = {
      msn,
      name: `seg-${this.instance}-${msn}.m4s`,
      parts: [],
      duration: 0,
      programDateTime: wallclock,
      discontinuity: this.nextDiscontinuity,
      init: this.initName,
      complete: false,
      bytes: 0,
    };
    if (this.nextDiscontinuity) this.nextDiscontinuity = false;
  }

  private closePart(): void {
    const lead = this.lead;
    if (!lead || lead.samples.length === 0) return;
    if (!this.current) this.openSegment_(Date.now());
    const seg = this.current!;
    const runs = [{ trackId: lead.fmp4Id, baseDecodeTime: lead.firstDts ?? 0, samples: lead.samples }];
    if (this.audio && this.audio.samples.length > 0) {
      runs.push({ trackId: this.audio.fmp4Id, baseDecodeTime: this.audio.firstDts ?? 0, samples: this.audio.samples });
    }
    const duration = lead.samples.reduce((a, s) => a + s.duration, 0) / lead.timescale;
    const independent = lead.samples[0]!.keyframe;
    const seq = this.partSeq++;
    const data = buildFragment(seq, runs);
    const index = seg.parts.length;
    const part: Part = { name: this.partName(seq), msn: seg.msn, index, data, duration, independent };
    seg.parts.push(part);
    this.partsByName.set(part.name, part);
    seg.duration += duration;
    seg.bytes += data.length;
    this.maxPartSec = Math.max(this.maxPartSec, duration - 0.0005 > this.opts.partTargetMs / 1000 ? duration : 0);
    lead.samples = [];
    if (this.audio) this.audio.samples = [];
    this.changed();
  }

  private closeSegment(): void {
    const seg = this.current;
    if (!seg || seg.parts.length === 0) return;
    seg.complete = true;
    this.current = undefined;
    this.nextMsn++;
    this.segments.push(seg);
    this.maxSegmentSec = Math.max(this.maxSegmentSec, seg.duration);
    if (seg.duration > 0) this.peakBps = Math.max(this.peakBps, (seg.bytes * 8) / seg.duration);
    while (this.segments.length > this.opts.segmentCount) {
      const old = this.segments.shift()!;
      if (old.discontinuity) this.discontinuitySequence++;
      this.grace.push(old);
    }
    while (this.grace.length > GRACE_SEGMENTS) {
      const gone = this.grace.shift()!;
      for (const p of gone.parts) this.partsByName.delete(p.name);
      // Forget init segments nothing refers to any more.
      const used = new Set([...this.grace, ...this.segments].map((s) => s.init));
      used.add(this.initName);
      if (!used.has(gone.init)) this.inits.delete(gone.init);
    }
    this.changed();
  }

  /** Close everything of the current epoch; the next segment carries a DISCONTINUITY. */
  private endEpoch(): void {
    for (const st of [this.lead, this.audio]) if (st?.pending) this.commit(st, st.lastDuration);
    this.closePart();
    this.closeSegment();
    const ends = [this.lead, this.audio].filter((s): s is TrackState => !!s).map((s) => s.endDts / s.timescale);
    this.timelineSec = Math.max(this.timelineSec, ...ends);
    if (this.lead) this.nextDiscontinuity = this.segments.length > 0 || this.grace.length > 0;
    this.lead = undefined;
    this.audio = undefined;
    this.transcoder?.close();
    this.transcoder = undefined;
  }

  private changed(): void {
    this.lastUpdate = Date.now();
    if (this.bandwidthFromOpen()) this.peakBps = Math.max(this.peakBps, this.bandwidthFromOpen());
    this.emit('update');
  }

  private bandwidthFromOpen(): number {
    const s = this.current;
    if (!s || s.duration < 0.5) return 0;
    return (s.bytes * 8) / s.duration;
  }
}

/**
 * Which tracks of a stream go into HLS, and why the others don't: H.264/H.265 video leads, AAC and
 * Opus pass through, G.711 only with `audio: transcode` (and ffmpeg). Also used for the camera status.
 */
export function chooseHlsTracks(tracks: readonly TrackInfo[], audioMode: AudioMode, haveFfmpeg: boolean): { lead?: TrackInfo; audio?: TrackInfo; notes: string[] } {
  const notes: string[] = [];
  const lead = tracks.find((t) => t.kind === 'video' && (t.codec === 'H264' || t.codec === 'H265'));
  const mjpeg = tracks.find((t) => t.kind === 'video' && t.codec === 'MJPEG');
  if (!lead && mjpeg) notes.push('HLS: MJPEG video cannot be carried in HLS (use the snapshot or WebRTC)');
  let audio: TrackInfo | undefined;
  const a = tracks.find((t) => t.kind === 'audio');
  if (a && audioMode !== 'off') {
    if (a.codec === 'AAC' || a.codec === 'OPUS') audio = a;
    else if ((a.codec === 'PCMA' || a.codec === 'PCMU') && audioMode === 'transcode') {
      if (haveFfmpeg) audio = a;
      else notes.push(`HLS: video only: ${a.codec} audio needs ffmpeg to be transcoded to AAC, and none was found`);
    } else notes.push(`HLS: video only: ${a.codec} audio is not playable in HLS; set "audio: transcode" to convert it to AAC`);
  }
  return { lead: lead ?? (audio && !mjpeg ? audio : undefined), audio: lead ? audio : undefined, notes };
}
