import type { FastifyPluginAsync } from 'fastify';
import type { Gateway } from '../gateway.ts';

const startedAt = new Date();

/** The admin API routes of this stage: health and camera status (the rest has its own issue). */
export const apiRoutes: FastifyPluginAsync<{ gateway: Gateway }> = async (app, { gateway }) => {
  app.get('/api/health', async () => {
    const statuses = gateway.statuses();
    const count = (state: string) => statuses.filter((s) => s.state === state).length;
    return {
      status: 'ok',
      version: '0.1.0',
      startedAt: startedAt.toISOString(),
      uptimeSec: Math.round((Date.now() - startedAt.getTime()) / 1000),
      cameras: { total: statuses.length, streaming: count('streaming'), retrying: count('retrying'), connecting: count('connecting') },
    };
  });

  app.get('/api/cameras', async () => gateway.statuses());

  app.get<{ Params: { id: string } }>('/api/cameras/:id', async (req, reply) => {
    const s = gateway.status(req.params.id);
    if (!s) return reply.status(404).send({ error: 'not_found', message: `no camera '${req.params.id}'` });
    return s;
  });
};
