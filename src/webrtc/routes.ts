/**
 * WHEP (draft-ietf-wish-whep; the resource model of WHIP, RFC 9725):
 *   POST   /whep/<stream>          application/sdp offer → 201 answer, Location, ETag, Link ice-server
 *   PATCH  /whep/sessions/<id>     application/trickle-ice-sdpfrag: trickle (204) or ICE restart (200)
 *   DELETE /whep/sessions/<id>     → 200; the session is gone
 *   OPTIONS on both, with CORS exposing Location, ETag and Link.
 * camgate's extension for the wall, a bundled session (several streams on one connection):
 *   POST   /whep?streams=a,b/sub,…  the offer's m-section i receives stream i's video; streams that
 *                                    cannot be sent are answered inactive and listed in the JSON
 *                                    header Camgate-Bundle ([{stream, mLine, refused?}])
 *   DELETE /whep/sessions/<id>/<m>  stops one stream (m-section m); the session ends with its last
 * The session id (128 random bits) is the only credential for PATCH/DELETE, as in WHIP.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../gateway.ts';
import type { IceServer } from '../config/types.ts';
import { authorizeStream, authenticateStreams } from '../http/guard.ts';
import { parseSdpFrag, writeSdpFrag } from './sdpfrag.ts';
import { WebRtcService, WhepError, type WebRtcServiceOptions } from './service.ts';
import { playerPage } from './player.ts';
import { SAFE_BUNDLE_OFFER_LIMIT, SAFE_OFFER_LIMIT } from './negotiate.ts';

const SDP = 'application/sdp';
const SDPFRAG = 'application/trickle-ice-sdpfrag';

function quoted(v: string): string {
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/** RFC 8288 Link values for the configured ICE servers (WHIP RFC 9725 §4.6). */
export function iceServerLinks(servers: IceServer[]): string[] {
  const out: string[] = [];
  for (const s of servers) {
    for (const url of Array.isArray(s.urls) ? s.urls : [s.urls]) {
      let v = `<${url}>; rel="ice-server"`;
      if (s.username !== undefined) v += `; username=${quoted(s.username)}`;
      if (s.credential !== undefined) v += `; credential=${quoted(s.credential)}; credential-type="password"`;
      out.push(v);
    }
  }
  return out;
}

function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function cors(reply: FastifyReply): void {
  void reply.header('Access-Control-Allow-Origin', '*');
  void reply.header('Access-Control-Expose-Headers', 'Location, ETag, Link, Accept-Patch, Retry-After, Camgate-Bundle');
}

function sendError(reply: FastifyReply, e: unknown): FastifyReply {
  if (e instanceof WhepError) {
    for (const [k, v] of Object.entries(e.headers)) void reply.header(k, v);
    return reply.status(e.status).send({ error: errorName(e.status), message: e.message });
  }
  throw e;
}

function errorName(status: number): string {
  return (
    { 400: 'bad_request', 404: 'not_found', 409: 'not_streaming', 412: 'precondition_failed', 415: 'unsupported_media_type', 422: 'no_common_codec', 503: 'over_capacity' } as Record<number, string>
  )[status] ?? 'error';
}

export interface WhepRoutesOptions {
  gateway: Gateway;
  webrtc?: WebRtcServiceOptions;
  /** Hands out the service (benchmarks read its measurements). */
  onService?: (service: WebRtcService) => void;
}

export async function whepRoutes(app: FastifyInstance, opts: WhepRoutesOptions): Promise<void> {
  const gateway = opts.gateway;
  const service = new WebRtcService(gateway, opts.webrtc);
  opts.onService?.(service);
  app.addHook('onClose', async () => service.stop());
  // Start the worker threads with the server, not on the first viewer: loading werift in a worker
  // takes 1–3 s on a busy 2-core machine, which the first wall after start used to wait for.
  // In-process test servers (vitest) start them lazily, so the many suites that never use WHEP
  // do not each pay for two threads.
  const prestart = opts.webrtc?.prestart ?? !process.env.VITEST;
  if (prestart) {
    app.addHook('onReady', async () => {
      void service.start().catch((e: Error) => gateway.log.error({ err: e.message }, 'webrtc: engines did not start'));
    });
  }

  // Bodies arrive as text; without these fastify would answer 415 itself, before our handler.
  // The parser's limit is the bundled offer's; each single-stream route keeps SAFE_OFFER_LIMIT.
  app.addContentTypeParser([SDP, SDPFRAG], { parseAs: 'string', bodyLimit: SAFE_BUNDLE_OFFER_LIMIT }, (_req, body, done) => done(null, body));

  const streamOf = (req: FastifyRequest): string => {
    const p = req.params as { camera: string };
    return req.url.split('?')[0]!.endsWith('/sub') ? `${p.camera}/sub` : p.camera;
  };

  const options = async (_req: FastifyRequest, reply: FastifyReply) => {
    cors(reply);
    void reply.header('Access-Control-Allow-Methods', 'OPTIONS, POST, PATCH, DELETE');
    void reply.header('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-Match');
    void reply.header('Access-Control-Max-Age', '86400');
    void reply.header('Accept-Post', SDP);
    void reply.header('Accept-Patch', SDPFRAG);
    const links = iceServerLinks(gateway.config.server.webrtc.iceServers);
    if (links.length) void reply.header('Link', links);
    return reply.status(204).send();
  };

  const post = async (req: FastifyRequest, reply: FastifyReply) => {
    cors(reply);
    const stream = streamOf(req);
    const principal = authorizeStream(gateway, req, reply, stream);
    if (principal === undefined) return reply;
    if (mediaType(req) !== SDP) return reply.status(415).send({ error: 'unsupported_media_type', message: `POST /whep needs Content-Type: ${SDP}` });
    const body = typeof req.body === 'string' ? req.body : '';
    if (!body.trim()) return reply.status(400).send({ error: 'bad_request', message: 'empty SDP offer' });
    try {
      const s = await service.create(stream, body, req.ip, principal?.name);
      void reply.header('Location', `/whep/sessions/${s.id}`);
      void reply.header('ETag', `"${s.etag}"`);
      void reply.header('Accept-Patch', SDPFRAG);
      const links = iceServerLinks(gateway.config.server.webrtc.iceServers);
      if (links.length) void reply.header('Link', links);
      return reply.status(201).type(SDP).send(s.answer);
    } catch (e) {
      return sendError(reply, e);
    }
  };

  const player = async (req: FastifyRequest, reply: FastifyReply) => {
    const stream = streamOf(req);
    if (authorizeStream(gateway, req, reply, stream) === undefined) return reply;
    return reply.type('text/html; charset=utf-8').send(playerPage(stream, gateway.config.server.webrtc.iceServers));
  };

  for (const path of ['/whep/:camera', '/whep/:camera/sub']) {
    app.options(path, options);
    app.post(path, { bodyLimit: SAFE_OFFER_LIMIT }, post);
    app.get(path, player);
  }

  app.options('/whep', options);
  app.post('/whep', { bodyLimit: SAFE_BUNDLE_OFFER_LIMIT }, async (req, reply) => {
    cors(reply);
    const q = req.query as { streams?: unknown };
    const names = typeof q.streams === 'string' ? q.streams.split(',').map((x) => x.trim()) : [];
    if (names.length === 0 || names.some((n) => !n)) return reply.status(400).send({ error: 'bad_request', message: 'POST /whep needs ?streams=<stream>,<stream>,… (or POST /whep/<stream>)' });
    const who = authenticateStreams(gateway, req, reply);
    if (who === undefined) return reply;
    if (!names.some(who.canView)) {
      // Nothing this caller may view: the same answer as a single stream's (authorizeStream).
      if (who.principal) return reply.status(403).send({ error: 'forbidden', message: `user '${who.principal.name}' may not view any of these streams` });
      void reply.header('WWW-Authenticate', 'Basic realm="camgate", charset="UTF-8"');
      return reply.status(401).send({ error: 'unauthorized', message: 'sign in to view these cameras' });
    }
    if (mediaType(req) !== SDP) return reply.status(415).send({ error: 'unsupported_media_type', message: `POST /whep needs Content-Type: ${SDP}` });
    const body = typeof req.body === 'string' ? req.body : '';
    if (!body.trim()) return reply.status(400).send({ error: 'bad_request', message: 'empty SDP offer' });
    try {
      const s = await service.createBundle(names, body, req.ip, who.principal?.name, who.canView);
      void reply.header('Location', `/whep/sessions/${s.id}`);
      void reply.header('ETag', `"${s.etag}"`);
      void reply.header('Accept-Patch', SDPFRAG);
      void reply.header('Camgate-Bundle', JSON.stringify(s.members));
      const links = iceServerLinks(gateway.config.server.webrtc.iceServers);
      if (links.length) void reply.header('Link', links);
      return reply.status(201).type(SDP).send(s.answer);
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.delete('/whep/sessions/:id/:mline', async (req, reply) => {
    cors(reply);
    const { id, mline } = req.params as { id: string; mline: string };
    if (!/^\d+$/.test(mline) || !service.drop(id, Number(mline), 'DELETE by client')) return reply.status(404).send({ error: 'not_found', message: 'no such stream in this WHEP session' });
    return reply.status(200).send();
  });

  app.options('/whep/sessions/:id', options);

  app.patch('/whep/sessions/:id', { bodyLimit: SAFE_OFFER_LIMIT }, async (req, reply) => {
    cors(reply);
    const { id } = req.params as { id: string };
    const rec = service.get(id);
    if (!rec) return reply.status(404).send({ error: 'not_found', message: 'no such WHEP session' });
    if (mediaType(req) !== SDPFRAG) return reply.status(415).send({ error: 'unsupported_media_type', message: `PATCH needs Content-Type: ${SDPFRAG}` });
    const ifMatch = req.headers['if-match'];
    if (ifMatch !== undefined && ifMatch.trim() !== '*' && !ifMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === `"${rec.etag}"`)) {
      return reply.status(412).send({ error: 'precondition_failed', message: 'If-Match does not match the session ETag' });
    }
    const parsed = parseSdpFrag(typeof req.body === 'string' ? req.body : '');
    if (!parsed.ok) return reply.status(400).send({ error: 'bad_request', message: parsed.error });
    try {
      const r = await service.patch(id, parsed.frag);
      void reply.header('ETag', `"${r.etag}"`);
      if (r.restart) return reply.status(200).type(SDPFRAG).send(writeSdpFrag(r.restart));
      return reply.status(204).send();
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.delete('/whep/sessions/:id', async (req, reply) => {
    cors(reply);
    const { id } = req.params as { id: string };
    if (!service.close(id, 'DELETE by client')) return reply.status(404).send({ error: 'not_found', message: 'no such WHEP session' });
    return reply.status(200).send();
  });
}
