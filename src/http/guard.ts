import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../gateway.ts';
import type { Principal } from '../auth/access.ts';

function queryToken(req: FastifyRequest): string | undefined {
  const q = req.query as Record<string, unknown> | undefined;
  const t = q?.token;
  return typeof t === 'string' && t.length > 0 ? t : undefined;
}

/** Who is asking: {principal} (null: open access or anonymous), or undefined after sending 401/429. */
function authenticate(gateway: Gateway, req: FastifyRequest, reply: FastifyReply): { principal: Principal | null } | undefined {
  const r = gateway.access.authenticateHttp(req.headers.authorization, queryToken(req), req.ip);
  if (r.ok) return r;
  if (r.status === 401) void reply.header('WWW-Authenticate', 'Basic realm="camgate", charset="UTF-8"');
  if (r.retryAfterSec) void reply.header('Retry-After', String(r.retryAfterSec));
  void reply.status(r.status).send({ error: r.status === 429 ? 'too_many_requests' : 'unauthorized', message: r.message });
  return undefined;
}

/**
 * Rights for a stream surface (HLS, WHEP, snapshots). Returns the principal (null when access is
 * open or anonymous-but-allowed), or undefined after sending 401/403/429 as JSON `{error, message}`.
 */
export function authorizeStream(gateway: Gateway, req: FastifyRequest, reply: FastifyReply, stream: string): Principal | null | undefined {
  const r = authenticate(gateway, req, reply);
  if (!r) return undefined;
  if (gateway.access.canView(r.principal, stream)) return r.principal;
  if (!r.principal) {
    void reply.header('WWW-Authenticate', 'Basic realm="camgate", charset="UTF-8"');
    void reply.status(401).send({ error: 'unauthorized', message: 'sign in to view this camera' });
  } else {
    void reply.status(403).send({ error: 'forbidden', message: `user '${r.principal.name}' may not view '${stream}'` });
  }
  return undefined;
}

/**
 * Authentication for a request about several streams (the wall's bundled WHEP session): returns
 * the principal and a per-stream rights check, or undefined after sending 401/429 like
 * authorizeStream. Streams the principal may not view are refused one by one by the caller.
 */
export function authenticateStreams(gateway: Gateway, req: FastifyRequest, reply: FastifyReply): { principal: Principal | null; canView: (stream: string) => boolean } | undefined {
  const r = authenticate(gateway, req, reply);
  if (!r) return undefined;
  return { principal: r.principal, canView: (stream) => gateway.access.canView(r.principal, stream) };
}

/** Rights for admin surfaces (/api except health, /metrics). */
export function authorizeAdmin(gateway: Gateway, req: FastifyRequest, reply: FastifyReply): Principal | null | undefined {
  const r = authenticate(gateway, req, reply);
  if (!r) return undefined;
  if (gateway.access.isAdmin(r.principal)) return r.principal;
  if (!r.principal) {
    void reply.header('WWW-Authenticate', 'Basic realm="camgate", charset="UTF-8"');
    void reply.status(401).send({ error: 'unauthorized', message: 'admin sign-in required' });
  } else {
    void reply.status(403).send({ error: 'forbidden', message: `user '${r.principal.name}' is not an admin` });
  }
  return undefined;
}
