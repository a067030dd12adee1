import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../gateway.ts';
import type { Principal } from '../auth/access.ts';
import type { CameraStatus } from '../camera/camera.ts';

/** One camera as the wall sees it. */
export interface WallCamera {
  id: string;
  name: string;
  state: CameraStatus['state'];
  lastError: string | null;
  since: string;
  tags: string[];
  tracks: CameraStatus['tracks'];
  bitrateKbps: number;
  /** The sub-stream's own state, when the camera has one (tiles play it). */
  sub?: { state: CameraStatus['state']; lastError: string | null; tracks: CameraStatus['tracks'] };
}

export function wallCamera(c: CameraStatus & { sub?: CameraStatus }): WallCamera {
  const w: WallCamera = {
    id: c.id,
    name: c.name,
    state: c.state,
    lastError: c.lastError,
    since: c.since,
    tags: c.tags ?? [],
    tracks: c.tracks,
    bitrateKbps: c.quality?.bitrateKbps ?? 0,
  };
  if (c.sub) w.sub = { state: c.sub.state, lastError: c.sub.lastError, tracks: c.sub.tracks };
  return w;
}

/** The wall's files (HTML, CSS, plain ES modules): served as they are, no build step. */
export const WALL_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** hls.js's ES module build, served from node_modules so the wall never needs a CDN. */
export const HLS_DIST = path.dirname(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.mjs'));

/**
 * The page may only talk to this server. hls.js starts its transmuxing worker from a blob: URL and
 * posters are blob: URLs of snapshots fetched with the Authorization header.
 */
const CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "style-src 'self'",
  "script-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'self'",
].join('; ');

function noCache(reply: FastifyReply): FastifyReply {
  // Revalidate (ETag) on every load so an upgraded gateway never runs a stale wall.
  return reply.header('Cache-Control', 'no-cache');
}

/**
 * `GET /`: the camera wall. Static files under `/wall/`, hls.js at `/vendor/hls.min.mjs`, and
 * `GET /wall/session`, which tells the page whether sign-in is needed and who is signed in.
 */
export const webRoutes: FastifyPluginAsync<{ gateway: Gateway }> = async (app, { gateway }) => {
  await app.register(fastifyStatic, {
    root: WALL_DIR,
    prefix: '/wall/',
    index: false,
    cacheControl: false,
    dotfiles: 'deny',
    // Another plugin may already have decorated the reply at the root (it works the same way).
    decorateReply: !app.hasReplyDecorator('sendFile'),
    setHeaders: (res) => {
      res.setHeader('Cache-Control', 'no-cache');
      res.setHeader('X-Content-Type-Options', 'nosniff');
    },
  });

  app.get('/', async (_req, reply) => {
    void noCache(reply).header('Content-Security-Policy', CSP).header('X-Content-Type-Options', 'nosniff').header('Referrer-Policy', 'no-referrer');
    return reply.sendFile('index.html', WALL_DIR, { cacheControl: false });
  });

  app.get('/vendor/hls.min.mjs', async (_req, reply) => {
    void noCache(reply);
    return reply.sendFile('hls.min.mjs', HLS_DIST, { cacheControl: false });
  });

  /** Credentials of a wall request: Authorization (Basic/Bearer) or `?token=`. */
  const principalOf = (req: FastifyRequest, reply: FastifyReply): { principal: Principal | null } | undefined => {
    const q = req.query as Record<string, unknown> | undefined;
    const token = typeof q?.token === 'string' && q.token.length > 0 ? q.token : undefined;
    const r = gateway.access.authenticateHttp(req.headers.authorization, token, req.ip);
    if (r.ok) return { principal: r.principal };
    if (r.retryAfterSec) void reply.header('Retry-After', String(r.retryAfterSec));
    void reply.status(r.status).send({ error: r.status === 429 ? 'too_many_requests' : 'unauthorized', message: r.message });
    return undefined;
  };

  /**
   * The cameras on the wall: only those the user may view, and only what a tile shows (no source
   * URL, no quirks: a viewer is not an admin). The admin API's `GET /api/cameras` is admin-only.
   */
  app.get('/wall/cameras', async (req, reply) => {
    void reply.header('Cache-Control', 'no-store');
    const who = principalOf(req, reply);
    if (!who) return reply;
    if (!gateway.access.open && !who.principal) return reply.status(401).send({ error: 'unauthorized', message: 'sign in to see the cameras' });
    return gateway.statuses().filter((c) => gateway.access.canView(who.principal, c.id)).map(wallCamera);
  });

  /**
   * Sign-in probe for the wall. Never sends `WWW-Authenticate`, so the browser doesn't pop its own
   * Basic dialog over the wall's sign-in form. 401 = the credentials given are wrong.
   */
  app.get('/wall/session', async (req, reply) => {
    void reply.header('Cache-Control', 'no-store');
    const who = principalOf(req, reply);
    if (!who) return reply;
    const open = gateway.access.open;
    const signedIn = open || who.principal !== null;
    return {
      open,
      user: who.principal ? { name: who.principal.name, role: who.principal.role } : null,
      // ICE servers (STUN/TURN, possibly with credentials) only go to someone allowed to watch.
      iceServers: signedIn ? gateway.config.server.webrtc.iceServers : [],
    };
  });
};
