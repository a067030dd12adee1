import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';

const INDEX = readFileSync(new URL('./index.html', import.meta.url));

/** `GET /`: a camera status page until the camera wall (its own issue) replaces it. */
export const webRoutes: FastifyPluginAsync = async (app) => {
  app.get('/', async (_req, reply) => {
    void reply.header('Content-Type', 'text/html; charset=utf-8').header('Cache-Control', 'no-cache');
    return INDEX;
  });
};
