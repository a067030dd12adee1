import pino, { type Logger } from 'pino';
import { redactSecrets } from './util/redact.ts';

/** Secrets known to the process (camera and user passwords): masked in every log line as well. */
const knownSecrets = new Set<string>();

export function addSecrets(...secrets: (string | undefined)[]): void {
  for (const s of secrets) if (s && s.length >= 3) knownSecrets.add(s);
}

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value, [...knownSecrets]);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { type: value.name, message: redactSecrets(value.message, [...knownSecrets]) };
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = /pass(word)?|credential|token|secret/i.test(k) && typeof v === 'string' ? '***' : scrub(v, depth + 1);
  return out;
}

/**
 * The process logger (pino, shared with fastify). Every argument of every log call goes through
 * redactSecrets: camera credentials never reach a log line.
 */
export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      base: undefined,
      hooks: {
        logMethod(args, method) {
          const clean = args.map((a) => scrub(a)) as Parameters<typeof method>;
          return method.apply(this, clean);
        },
      },
    },
    opts.destination ?? process.stdout,
  );
}
