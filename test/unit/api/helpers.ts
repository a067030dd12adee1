/** Shared set-up for the admin API tests: a Gateway on a real config file, and the one fastify app. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../../src/log.ts';
import { Gateway } from '../../../src/gateway.ts';
import { buildHttpServer } from '../../../src/http/server.ts';
import { ConfigStore, type AtomicWriteOptions } from '../../../src/config/save.ts';

/** A pino logger whose lines are kept in `lines` (JSON objects) instead of printed. */
export function captureLogger() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination }), lines, text: () => lines.map((l) => l.msg).join('\n') };
}

export function tempDir(prefix = 'camgate-api-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export interface Rig {
  gateway: Gateway;
  app: Awaited<ReturnType<typeof buildHttpServer>>;
  file: string;
  logs: ReturnType<typeof captureLogger>;
  close(): Promise<void>;
}

/** A gateway on `yaml` written to a temp cameras.yaml, started, with its HTTP app (not listening unless asked). */
export async function startRig(yaml: string, opts: { listen?: boolean; writeOpts?: AtomicWriteOptions; start?: boolean } = {}): Promise<Rig> {
  const file = path.join(tempDir(), 'cameras.yaml');
  writeFileSync(file, yaml);
  const loaded = await ConfigStore.load(file, opts.writeOpts);
  if (!loaded.ok) throw new Error(`test config invalid: ${JSON.stringify(loaded.errors)}`);
  const logs = captureLogger();
  const gateway = new Gateway(loaded.store.config, logs.log, { store: loaded.store });
  const app = await buildHttpServer({ gateway, logger: logs.log });
  if (opts.listen) await app.listen({ host: '127.0.0.1', port: 0 });
  else await app.ready();
  if (opts.start !== false) gateway.start();
  return {
    gateway,
    app,
    file,
    logs,
    async close() {
      await gateway.stop();
      await app.close();
    },
  };
}

export const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Wait until `cond` holds (polling), or fail after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
