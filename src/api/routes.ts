import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import type { Gateway } from '../gateway.ts';
import { authorizeAdmin, authorizeStream } from '../http/guard.ts';
import { cameraOfStream } from '../auth/access.ts';
import { ConfigEditError, type CameraBody as CameraBodyT } from '../config/save.ts';
import { Snapshots, SnapshotError } from '../snapshot/snapshot.ts';
import { createMetrics } from '../metrics/metrics.ts';
import {
  CameraBody,
  CameraIdParams,
  CameraStatus,
  ErrorBody,
  Health,
  NewCameraBody,
  Session,
  SessionIdParams,
  SnapshotQuery,
  TokenQuery,
  typeboxValidator,
} from './schemas.ts';

export const VERSION = '0.1.0';
const startedAt = new Date();

type Req = FastifyRequest;

function sendError(reply: FastifyReply, status: number, error: string, message: string, errors?: { path: string; message: string }[]) {
  return reply.status(status).send(errors ? { error, message, errors } : { error, message });
}

function sendEditError(reply: FastifyReply, e: unknown) {
  if (e instanceof ConfigEditError) {
    const errors = e.errors.length > 0 ? e.errors.map((x) => ({ path: x.path, message: x.message })) : undefined;
    return sendError(reply, e.status, e.code, e.message, errors);
  }
  throw e;
}

/** Errors a route may answer with, for the OpenAPI document. */
const errs = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorBody]));

/**
 * The admin API (routes fixed in ARCHITECTURE.md), /metrics, snapshots, and the OpenAPI document.
 *
 * This plugin is registered first and is not encapsulated (skip-override), so that @fastify/swagger
 * sees every route registered after it, HLS and WHEP included. The routes themselves live in an
 * encapsulated child with its own validator, so nothing here changes how other plugins validate.
 */
async function apiPlugin(app: FastifyInstance, opts: { gateway: Gateway }): Promise<void> {
  const { gateway } = opts;
  const adminHook = async (req: Req, reply: FastifyReply) => {
    if (authorizeAdmin(gateway, req, reply) === undefined) return reply;
  };
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'camgate',
        version: VERSION,
        description: 'RTSP/RTP IP-camera gateway: admin API, snapshots, metrics, LL-HLS and WHEP. When users are configured, send HTTP Basic or a Bearer token.',
      },
      components: {
        securitySchemes: {
          basic: { type: 'http', scheme: 'basic' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ basic: [] }, { bearer: [] }],
      tags: [
        { name: 'cameras', description: 'camera inventory and status; every change is saved to the config file' },
        { name: 'sessions', description: 'viewers of every kind' },
        { name: 'system', description: 'health, metrics, documentation' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', uiHooks: { onRequest: adminHook }, uiConfig: { url: '/api/openapi.json' } as never });
  await app.register(routes, { gateway, adminHook });
}

export const apiRoutes = Object.assign(apiPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'camgate-api',
}) as unknown as FastifyPluginAsync<{ gateway: Gateway }>;

const routes: FastifyPluginAsync<{ gateway: Gateway; adminHook: (req: Req, reply: FastifyReply) => Promise<FastifyReply | undefined> }> = async (app, { gateway, adminHook }) => {
  app.setValidatorCompiler(typeboxValidator);
  // Response schemas document; JSON.stringify serialises (a schema-driven serializer would drop
  // fields the schema doesn't list, and the status carries extra fields on purpose).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const snapshots = new Snapshots(gateway);
  const metrics = createMetrics(gateway);
  app.addHook('onClose', async () => metrics.close());

  const admin = { onRequest: adminHook };
  const viewerOf = (stream: (req: Req) => string) => ({
    onRequest: async (req: Req, reply: FastifyReply) => {
      if (authorizeStream(gateway, req, reply, stream(req)) === undefined) return reply;
    },
  });

  app.get('/api/health', {
    schema: { tags: ['system'], summary: 'Health check (no sign-in needed)', security: [], response: { 200: Health } },
  }, async () => {
    const statuses = gateway.statuses();
    const count = (state: string) => statuses.filter((s) => s.state === state).length;
    return {
      status: 'ok',
      version: VERSION,
      startedAt: startedAt.toISOString(),
      uptimeSec: Math.round((Date.now() - startedAt.getTime()) / 1000),
      cameras: { total: statuses.length, streaming: count('streaming'), retrying: count('retrying'), connecting: count('connecting'), idle: count('idle'), disabled: count('disabled') },
      config: { persistent: gateway.store.persistent },
      access: gateway.access.open ? 'open' : 'users',
    };
  });

  app.get('/api/cameras', {
    ...admin,
    schema: { tags: ['cameras'], summary: 'Status of every camera', querystring: TokenQuery, response: { 200: Type.Array(CameraStatus), ...errs(401, 403, 429) } },
  }, async () => gateway.statuses());

  app.get<{ Params: { id: string } }>('/api/cameras/:id', {
    ...admin,
    schema: { tags: ['cameras'], summary: "One camera's status", params: CameraIdParams, querystring: TokenQuery, response: { 200: CameraStatus, ...errs(401, 403, 404, 429) } },
  }, async (req, reply) => {
    const s = gateway.status(req.params.id);
    if (!s) return sendError(reply, 404, 'not_found', `no camera '${req.params.id}'`);
    return s;
  });

  app.post<{ Body: CameraBodyT }>('/api/cameras', {
    ...admin,
    schema: {
      tags: ['cameras'],
      summary: 'Add a camera (saved to the config file)',
      body: NewCameraBody,
      querystring: TokenQuery,
      response: { 201: CameraStatus, ...errs(400, 401, 403, 409, 429, 500) },
    },
  }, async (req, reply) => {
    const id = req.body.id;
    if (typeof id !== 'string' || id === '') {
      const why = id === undefined || id === '' ? 'is required' : 'must be a string';
      return sendError(reply, 400, 'invalid_camera', `id ${why}: the camera id, as under cameras: in cameras.yaml`, [{ path: 'id', message: why }]);
    }
    try {
      await gateway.createCamera(id, req.body);
    } catch (e) {
      return sendEditError(reply, e);
    }
    return reply.status(201).header('Location', `/api/cameras/${encodeURIComponent(id)}`).send(gateway.status(id));
  });

  app.put<{ Params: { id: string }; Body: CameraBodyT }>('/api/cameras/:id', {
    ...admin,
    schema: {
      tags: ['cameras'],
      summary: 'Replace a camera (saved; it reconnects only if its connection settings changed)',
      params: CameraIdParams,
      body: CameraBody,
      querystring: TokenQuery,
      response: { 200: CameraStatus, ...errs(400, 401, 403, 404, 409, 429, 500) },
    },
  }, async (req, reply) => {
    const { id } = req.params;
    if (req.body.id !== undefined && req.body.id !== id) {
      return sendError(reply, 400, 'invalid_camera', `body id '${String(req.body.id)}' does not match the URL ('${id}'); cameras cannot be renamed, delete and add instead`, [{ path: 'id', message: 'does not match the URL' }]);
    }
    try {
      await gateway.replaceCamera(id, req.body);
    } catch (e) {
      return sendEditError(reply, e);
    }
    snapshots.forget(id);
    snapshots.forget(`${id}/sub`);
    return gateway.status(id);
  });

  app.delete<{ Params: { id: string } }>('/api/cameras/:id', {
    ...admin,
    schema: { tags: ['cameras'], summary: 'Remove a camera (saved; its viewers are disconnected)', params: CameraIdParams, querystring: TokenQuery, response: { 204: Type.Null(), ...errs(401, 403, 404, 409, 429, 500) } },
  }, async (req, reply) => {
    try {
      await gateway.deleteCamera(req.params.id);
    } catch (e) {
      return sendEditError(reply, e);
    }
    snapshots.forget(req.params.id);
    snapshots.forget(`${req.params.id}/sub`);
    return reply.status(204).send();
  });

  app.post<{ Params: { id: string } }>('/api/cameras/:id/restart', {
    ...admin,
    schema: { tags: ['cameras'], summary: "Restart a camera's connection (and its sub-stream)", params: CameraIdParams, querystring: TokenQuery, response: { 202: CameraStatus, ...errs(401, 403, 404, 429) } },
  }, async (req, reply) => {
    if (!(await gateway.restartCamera(req.params.id))) return sendError(reply, 404, 'not_found', `no camera '${req.params.id}'`);
    return reply.status(202).send(gateway.status(req.params.id));
  });

  const snapshotRoute = (sub: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as { id: string };
    const { width } = req.query as { width?: number };
    const cam = gateway.camera(id);
    if (!cam) return sendError(reply, 404, 'not_found', `no camera '${id}'`);
    const stream = sub ? `${id}/sub` : id;
    if (sub && !gateway.cameraForStream(stream)) return sendError(reply, 404, 'not_found', `camera '${id}' has no sub-stream`);
    try {
      const snap = await snapshots.get(stream, width);
      return reply
        .header('Content-Type', 'image/jpeg')
        .header('Cache-Control', 'no-cache, max-age=1')
        .header('Last-Modified', new Date(snap.capturedAt).toUTCString())
        .header('X-Camgate-Captured-At', new Date(snap.capturedAt).toISOString())
        .header('X-Camgate-Snapshot', snap.cached ? 'cached' : 'decoded')
        .send(snap.jpeg);
    } catch (e) {
      if (!(e instanceof SnapshotError)) throw e;
      if (e.status === 503) void reply.header('Retry-After', '1');
      return sendError(reply, e.status, e.code, e.message);
    }
  };
  const snapshotSchema = (summary: string) => ({
    tags: ['cameras'],
    summary,
    params: CameraIdParams,
    querystring: SnapshotQuery,
    produces: ['image/jpeg'],
    response: { 200: Type.String({ contentMediaType: 'image/jpeg', description: 'a JPEG' }), ...errs(400, 401, 403, 404, 429, 500, 503) },
  });
  app.get('/api/cameras/:id/snapshot.jpg', {
    ...viewerOf((req) => (req.params as { id: string }).id),
    schema: snapshotSchema('A JPEG of the latest keyframe (viewers of the camera may fetch it; cached ~1 s)'),
  }, snapshotRoute(false));
  app.get('/api/cameras/:id/sub/snapshot.jpg', {
    ...viewerOf((req) => `${(req.params as { id: string }).id}/sub`),
    schema: snapshotSchema("A JPEG of the sub-stream's latest keyframe"),
  }, snapshotRoute(true));

  app.get('/api/sessions', {
    ...admin,
    schema: { tags: ['sessions'], summary: 'Every viewer: HLS, WebRTC and RTSP', querystring: TokenQuery, response: { 200: Type.Array(Session), ...errs(401, 403, 429) } },
  }, async () =>
    gateway.sessions.list().map((s) => {
      let bytesSent = 0;
      try {
        bytesSent = s.bytesSent();
      } catch {
        // an output's counter failing must not break the list
      }
      return {
        id: s.id,
        protocol: s.protocol,
        stream: s.stream,
        camera: cameraOfStream(s.stream),
        remoteAddress: s.remoteAddress,
        user: s.user ?? null,
        startedAt: s.startedAt.toISOString(),
        bytesSent,
      };
    }),
  );

  app.delete<{ Params: { id: string } }>('/api/sessions/:id', {
    ...admin,
    schema: { tags: ['sessions'], summary: 'Disconnect a viewer', params: SessionIdParams, querystring: TokenQuery, response: { 204: Type.Null(), ...errs(401, 403, 404, 429) } },
  }, async (req, reply) => {
    if (!gateway.sessions.kick(req.params.id)) return sendError(reply, 404, 'not_found', `no session '${req.params.id}'`);
    return reply.status(204).send();
  });

  app.get('/api/openapi.json', { ...admin, schema: { hide: true } }, async () => app.swagger());

  app.get('/metrics', {
    ...admin,
    schema: { tags: ['system'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'], response: { 200: Type.String(), ...errs(401, 403, 429) } },
  }, async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.header('Content-Type', metrics.registry.contentType).send(text);
  });

};
