/**
 * The LL-HLS HTTP surface: `GET /hls/<stream>/index.m3u8` (multivariant), `stream.m3u8` (media
 * playlist with blocking reload and delta updates), `init-*.mp4`, `part-*.m4s`, `seg-*.m4s`.
 *
 * One muxer per stream, started by the first request (acquiring the camera, which connects
 * onDemand cameras) and stopped IDLE_MS after the last one, unless `hls.alwaysRemux`.
 * HLS viewers are registered in the gateway's session registry: a viewer is a `?session=` id that
 * the multivariant playlist puts on every URI (or, for clients that start at the media playlist,
 * remote address + User-Agent), seen within the last VIEWER_IDLE_MS.
 */
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../gateway.ts';
import type { Stream } from '../stream/stream.ts';
import { newSessionId } from '../stream/sessions.ts';
import { findFfmpeg } from '../util/ffmpeg.ts';
import { authorizeStream } from '../http/guard.ts';
import { HlsMuxer, chooseHlsTracks } from './muxer.ts';
import { MEDIA_PLAYLIST, mediaPlaylist, multivariantPlaylist, partHoldBack, uriSuffix } from './playlist.ts';

/** A muxer with no request for this long is stopped (unless alwaysRemux). */
export const IDLE_MS = 30_000;
/** A viewer not seen for this long is removed from the session registry. */
export const VIEWER_IDLE_MS = 10_000;
/** How long a first request waits for the first part (camera connecting, first keyframe). */
const READY_TIMEOUT_MS = 10_000;
/** A kicked viewer's requests get 404 for this long. */
const KICK_BAN_MS = 60_000;
/** Bounded: at most this many HLS viewers at once. */
const MAX_VIEWERS = 10_000;

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

interface MuxerEntry {
  muxer: HlsMuxer;
  lastRequest: number;
  release?: () => void;
}

interface Viewer {
  id: string;
  key: string;
  stream: string;
  lastSeen: number;
  bytes: number;
  unregister: () => void;
}

export interface HlsRoutesOptions {
  gateway: Gateway;
  /** For tests: shorter idle timers. */
  idleMs?: number;
  viewerIdleMs?: number;
}

/** The HLS state of one gateway: muxers and viewers. */
export class HlsService {
  private readonly muxers = new Map<string, MuxerEntry>();
  private readonly nextMsn = new Map<string, number>();
  private readonly viewers = new Map<string, Viewer>();
  private readonly viewerByKey = new Map<string, string>();
  private readonly banned = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly noted = new WeakSet<Stream>();
  private readonly onStream = (s: Stream) => this.watchNotes(s);
  readonly idleMs: number;
  readonly viewerIdleMs: number;

  constructor(
    readonly gateway: Gateway,
    opts: { idleMs?: number; viewerIdleMs?: number } = {},
  ) {
    this.idleMs = opts.idleMs ?? IDLE_MS;
    this.viewerIdleMs = opts.viewerIdleMs ?? VIEWER_IDLE_MS;
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
    for (const s of gateway.hub.list()) this.watchNotes(s);
    gateway.hub.on('stream', this.onStream);
    if (gateway.config.hls.alwaysRemux) {
      for (const s of gateway.hub.list()) this.muxer(s.name, false);
    }
  }

  /** Camera status `notes`: what HLS leaves out of this stream and why, whether or not anyone watches. */
  private watchNotes(s: Stream): void {
    if (this.noted.has(s)) return;
    this.noted.add(s);
    const update = () => {
      const cam = this.gateway.cameraForStream(s.name);
      if (!cam) return;
      const r = chooseHlsTracks(s.tracks, cam.config.audio, findFfmpeg() !== null);
      cam.setNote('hls', r.notes.length ? r.notes.join('; ') : undefined);
    };
    s.on('tracks', update);
    update();
    if (this.gateway.config.hls.alwaysRemux) queueMicrotask(() => this.muxer(s.name, false));
  }

  /** The running muxer of a stream, started if needed; undefined for an unknown stream. */
  muxer(name: string, request = true): HlsMuxer | undefined {
    const stream = this.gateway.hub.get(name);
    if (!stream || !this.gateway.cameraForStream(name)) return undefined;
    let e = this.muxers.get(name);
    if (e && (e.muxer.isStopped || e.muxer.stream !== stream)) {
      this.stopEntry(name, e);
      e = undefined;
    }
    if (!e) {
      const cam = this.gateway.cameraForStream(name)!;
      const hls = this.gateway.config.hls;
      const muxer = new HlsMuxer(stream, {
        partTargetMs: hls.partDurationMs,
        segmentMinMs: hls.segmentDurationMs,
        segmentCount: hls.segmentCount,
        audio: cam.config.audio,
        ffmpeg: cam.config.audio === 'transcode' ? findFfmpeg() : null,
        firstMsn: this.nextMsn.get(name) ?? 0,
        keyframeIntervalMs: cam.status().quality.keyframeIntervalMs || undefined,
      });
      e = { muxer, lastRequest: Date.now() };
      this.muxers.set(name, e);
      muxer.start();
    }
    if (request) {
      e.lastRequest = Date.now();
      if (!e.release) e.release = this.gateway.acquire(name);
    }
    return e.muxer;
  }

  private stopEntry(name: string, e: MuxerEntry): void {
    this.nextMsn.set(name, e.muxer.msnAfter);
    e.muxer.stop();
    e.release?.();
    this.muxers.delete(name);
  }

  private sweep(): void {
    const now = Date.now();
    const always = this.gateway.config.hls.alwaysRemux;
    for (const [name, e] of this.muxers) {
      if (e.muxer.waiting > 0) e.lastRequest = now; // a held blocking request is a viewer too
      if (now - e.lastRequest < this.idleMs) continue;
      if (always && !e.muxer.isStopped && this.gateway.hub.get(name) === e.muxer.stream) {
        e.release?.();
        e.release = undefined;
      } else this.stopEntry(name, e);
    }
    for (const v of this.viewers.values()) if (now - v.lastSeen > this.viewerIdleMs) this.dropViewer(v);
    for (const [k, until] of this.banned) if (until < now) this.banned.delete(k);
  }

  private dropViewer(v: Viewer): void {
    this.viewers.delete(v.id);
    if (this.viewerByKey.get(v.key) === v.id) this.viewerByKey.delete(v.key);
    v.unregister();
  }

  /**
   * The viewer behind a request: its `?session=` id, else its address + User-Agent. Undefined when
   * it was kicked (or too many viewers).
   */
  viewer(req: FastifyRequest, stream: string, user: string | undefined): Viewer | undefined {
    const q = req.query as Record<string, unknown>;
    const key = `${stream}\n${req.ip}\n${req.headers['user-agent'] ?? ''}`;
    let id = typeof q.session === 'string' && /^[0-9a-f]{32}$/.test(q.session) ? q.session : undefined;
    if (id && this.banned.has(id)) return undefined;
    if (!id) {
      if (this.banned.has(key)) return undefined;
      id = this.viewerByKey.get(key);
    }
    let v = id ? this.viewers.get(id) : undefined;
    if (v && v.stream !== stream) v = undefined;
    if (!v) {
      if (this.viewers.size >= MAX_VIEWERS) return undefined;
      const vid = id && !this.viewers.has(id) ? id : newSessionId();
      const viewer: Viewer = { id: vid, key, stream, lastSeen: Date.now(), bytes: 0, unregister: () => undefined };
      viewer.unregister = this.gateway.sessions.add({
        id: vid,
        protocol: 'hls',
        stream,
        remoteAddress: req.ip,
        user,
        startedAt: new Date(),
        bytesSent: () => viewer.bytes,
        kick: () => {
          // Forget it and refuse its further requests for a while (404), by id and by address+UA.
          const until = Date.now() + KICK_BAN_MS;
          this.banned.set(viewer.id, until);
          this.banned.set(viewer.key, until);
          this.dropViewer(viewer);
        },
      });
      this.viewers.set(vid, viewer);
      this.viewerByKey.set(key, vid);
      v = viewer;
    }
    v.lastSeen = Date.now();
    return v;
  }

  close(): void {
    clearInterval(this.timer);
    this.gateway.hub.off('stream', this.onStream);
    for (const [name, e] of this.muxers) this.stopEntry(name, e);
    for (const v of [...this.viewers.values()]) this.dropViewer(v);
  }
}

function sendError(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.status(status).header('Cache-Control', 'no-store').send({ error, message });
}

function sendPlaylist(req: FastifyRequest, reply: FastifyReply, text: string, cacheControl: string): FastifyReply {
  void reply.header('Content-Type', PLAYLIST_TYPE).header('Cache-Control', cacheControl).header('Vary', 'Accept-Encoding');
  const ae = req.headers['accept-encoding'];
  if (typeof ae === 'string' && /\bgzip\b/.test(ae)) {
    return reply.header('Content-Encoding', 'gzip').send(gzipSync(text));
  }
  return reply.send(text);
}

function intParam(v: unknown): number | undefined | null {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) return null;
  return Number(v);
}

export async function hlsRoutes(app: FastifyInstance, opts: HlsRoutesOptions): Promise<void> {
  const { gateway } = opts;
  const hls = new HlsService(gateway, { idleMs: opts.idleMs, viewerIdleMs: opts.viewerIdleMs });
  app.decorate('hls', hls);
  app.addHook('onClose', async () => hls.close());
  // CORS on every HLS response, errors included (players on other origins, hls.js demo page).
  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.header('Access-Control-Allow-Origin', '*');
    void reply.header('Access-Control-Expose-Headers', 'Content-Length, Content-Type, Date');
    return payload;
  });
  app.options('/hls/*', async (_req, reply) =>
    reply
      .status(204)
      .header('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS')
      .header('Access-Control-Allow-Headers', 'Authorization, Range')
      .header('Access-Control-Max-Age', '86400')
      .send(),
  );

  app.get('/hls/*', async (req, reply) => {
    const path = (req.params as { '*': string })['*'] ?? '';
    const slash = path.lastIndexOf('/');
    if (slash <= 0) return sendError(reply, 404, 'not_found', 'expected /hls/<stream>/<file>');
    const name = path.slice(0, slash);
    const file = path.slice(slash + 1);
    if (!gateway.hub.get(name) || !gateway.cameraForStream(name)) return sendError(reply, 404, 'not_found', `no stream '${name}'`);
    const principal = authorizeStream(gateway, req, reply, name);
    if (principal === undefined) return reply;
    const viewer = hls.viewer(req, name, principal?.name);
    if (!viewer) return sendError(reply, 404, 'not_found', 'this HLS session has ended');
    const muxer = hls.muxer(name)!;
    const q = req.query as Record<string, unknown>;
    const token = typeof q.token === 'string' ? q.token : undefined;
    const ready = () => muxer.lastMsn !== undefined;
    const waitReady = async (): Promise<boolean> => {
      if (ready()) return true;
      await muxer.waitFor(ready, READY_TIMEOUT_MS);
      return ready();
    };
    const notReady = () => {
      const why = muxer.notes.find((n) => /MJPEG|init/.test(n));
      if (why) return sendError(reply, 415, 'unsupported', why);
      return sendError(reply, 503, 'not_ready', muxer.stream.online ? `stream '${name}' has produced no video yet` : `camera of '${name}' is not streaming`);
    };

    if (file === 'index.m3u8') {
      if (!(await waitReady())) return notReady();
      return sendPlaylist(req, reply, multivariantPlaylist(muxer, uriSuffix({ token, session: viewer.id })), 'no-cache');
    }

    if (file === MEDIA_PLAYLIST) {
      const msn = intParam(q._HLS_msn);
      const part = intParam(q._HLS_part);
      if (msn === null || part === null) return sendError(reply, 400, 'bad_request', '_HLS_msn and _HLS_part must be non-negative integers');
      if (part !== undefined && msn === undefined) return sendError(reply, 400, 'bad_request', '_HLS_part requires _HLS_msn');
      const skip = q._HLS_skip === 'YES' || q._HLS_skip === 'v2';
      if (!(await waitReady())) return notReady();
      // A muxer that just started (from the GOP cache) has one segment: hls.js (1.7) starts in it
      // and then re-loads its parts in a loop, frozen for 2–6 s (test/interop/hls-latency.test.ts).
      // So the media playlist waits until hls.js's start point (PART-HOLD-BACK behind the edge)
      // lies past the first segment, with a part to spare: one complete segment and 2 parts more
      // than PART-HOLD-BACK after it (~2 s at a 2 s GOP; gohlslib waits for two fMP4 segments).
      // At most 3 target durations: a GOP longer than assumed still plays.
      const startable = () => muxer.segments.length >= 2 || (muxer.segments.length === 1 && (muxer.openSegment?.duration ?? 0) >= partHoldBack(muxer) + 2 * muxer.partTarget - 1e-6);
      if (!startable()) await muxer.waitFor(startable, 3 * muxer.targetDuration * 1000);
      const suffix = uriSuffix({ token, session: typeof q.session === 'string' ? viewer.id : undefined });
      if (msn === undefined) return sendPlaylist(req, reply, mediaPlaylist(muxer, suffix, { skip }), 'max-age=1');
      const last = muxer.lastMsn!;
      // RFC 8216bis §6.2.5.2: more than two segments ahead, or a part beyond the Advance Part Limit (3).
      if (msn > last + 2) return sendError(reply, 400, 'bad_request', `_HLS_msn=${msn} is too far ahead of the last segment (${last})`);
      const lastPart = muxer.lastPart();
      if (part !== undefined && msn === last && lastPart && lastPart.msn === last && part > lastPart.index + 3) {
        return sendError(reply, 400, 'bad_request', `_HLS_part=${part} is too far ahead of the last part (${lastPart.index})`);
      }
      const ok = await muxer.waitFor(() => muxer.has(msn, part), 3 * muxer.targetDuration * 1000);
      if (!ok) return sendError(reply, 503, 'timeout', `segment ${msn}${part !== undefined ? ` part ${part}` : ''} not produced within 3 target durations`);
      return sendPlaylist(req, reply, mediaPlaylist(muxer, suffix, { skip }), `public, max-age=${6 * muxer.targetDuration}`);
    }

    const mediaType = muxer.hasVideo ? 'video/mp4' : 'audio/mp4';
    const sendMedia = (data: Buffer) => {
      viewer.bytes += data.length;
      return reply.header('Content-Type', mediaType).header('Cache-Control', 'public, max-age=3600, immutable').send(data);
    };

    if (file.startsWith('part-')) {
      let p = muxer.partByName(file);
      if (!p && muxer.isUpcomingPart(file)) {
        // A request for the preload-hinted part blocks until the part is complete.
        await muxer.waitFor(() => muxer.partByName(file) !== undefined, 3 * muxer.targetDuration * 1000);
        p = muxer.partByName(file);
        if (!p) return sendError(reply, 503, 'timeout', 'the hinted part was not produced in time');
      }
      if (!p) return sendError(reply, 404, 'not_found', `no part '${file}'`);
      return sendMedia(p.data);
    }
    const seg = /^seg-([0-9a-f]+)-(\d{1,15})\.m4s$/.exec(file);
    if (seg && seg[1] === muxer.instance) {
      const msn = Number(seg[2]);
      if (muxer.openSegment?.msn === msn) await muxer.waitFor(() => muxer.segmentData(msn) !== undefined, 3 * muxer.targetDuration * 1000);
      const data = muxer.segmentData(msn);
      if (!data) return sendError(reply, 404, 'not_found', `no segment '${file}'`);
      return sendMedia(data);
    }
    if (file.startsWith('init-')) {
      const init = muxer.init(file);
      if (!init) return sendError(reply, 404, 'not_found', `no init segment '${file}'`);
      viewer.bytes += init.length;
      return reply.header('Content-Type', mediaType).header('Cache-Control', 'public, max-age=3600, immutable').send(init);
    }
    return sendError(reply, 404, 'not_found', `no HLS file '${file}'`);
  });
}
