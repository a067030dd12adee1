import { readFileSync } from 'node:fs';
import Fastify, { LogController } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { Gateway } from '../gateway.ts';
import { apiRoutes } from '../api/routes.ts';
import { webRoutes } from '../web/routes.ts';
import { whepRoutes, type WhepRoutesOptions } from '../webrtc/routes.ts';
import { hlsRoutes } from '../hls/routes.ts';

export interface HttpServerOptions {
  gateway: Gateway;
  logger: PinoLogger;
  /** WebRTC service options and a hook that receives the service (tests and benchmarks). */
  webrtc?: Pick<WhepRoutesOptions, 'webrtc' | 'onService'>;
}

/** The one fastify server: the API now; HLS, WHEP, metrics and the wall register here too. */
export async function buildHttpServer(opts: HttpServerOptions) {
  const app = Fastify({
    loggerInstance: opts.logger,
    logController: new LogController({ disableRequestLogging: true }),
    // Bounded: no request body bigger than 1 MiB, no header block bigger than 16 KiB.
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 200 },
    connectionTimeout: 0,
    keepAliveTimeout: 5000,
    // server.tls: HTTPS with HTTP/2 (a 16-tile LL-HLS wall needs more than HTTP/1.1's 6 connections
    // per host), HTTP/1.1 still accepted. Typed as the HTTP/1 server so plugins keep one type.
    ...(tlsOptions(opts.gateway) as object),
  });
  app.setErrorHandler((error: { statusCode?: number; message: string }, _req, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) opts.logger.error({ err: error.message }, 'request failed');
    void reply.status(status).send({ error: status >= 500 ? 'internal' : 'bad_request', message: error.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: 'not_found', message: `no route for ${req.method} ${req.url.split('?')[0]}` });
  });
  await app.register(apiRoutes, { gateway: opts.gateway });
  await app.register(webRoutes, { gateway: opts.gateway });
  await app.register(whepRoutes, { gateway: opts.gateway, ...opts.webrtc });
  await app.register(hlsRoutes, { gateway: opts.gateway });
  return app;
}

function tlsOptions(gateway: Gateway): object {
  const tls = gateway.config.server.tls;
  if (!tls) return {};
  return { http2: true, https: { allowHTTP1: true, cert: readFileSync(tls.cert), key: readFileSync(tls.key) } };
}
