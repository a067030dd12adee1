import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFile, formatConfigError } from './config/load.ts';
import { ConfigStore } from './config/save.ts';
import { watchConfigFile } from './config/watch.ts';
import { createLogger, addSecrets } from './log.ts';
import { Gateway } from './gateway.ts';
import { buildHttpServer } from './http/server.ts';
import { RtspServer } from './rtsp/server.ts';
import { probe, formatProbe } from './probe.ts';
import { redactSecrets } from './util/redact.ts';

const USAGE = `usage:
  camgate [serve] [--config FILE]      run the gateway (default config: cameras.yaml)
  camgate check FILE                   validate a config; prints FILE:LINE:COL: message per error
  camgate probe URL [--transport tcp|udp|auto] [--json] [--seconds N]
                                       connect to one camera and print its tracks and quirks`;

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
  const file = values.config ?? 'cameras.yaml';
  // Until the logger exists (it needs the config's secrets first).
  let warn = (m: string): void => void process.stderr.write(`camgate: ${m}\n`);
  // The store owns the file from here on: API edits are saved into it, hand edits are reloaded.
  const loaded = await ConfigStore.load(file, { onInPlace: (why) => warn(`${file}: saved in place, not atomically: ${why}`) });
  if (!loaded.ok) {
    for (const e of loaded.errors) process.stderr.write(`${formatConfigError(e)}\n`);
    return 1;
  }
  const config = loaded.store.config;
  for (const c of config.cameras) addSecrets(c.password);
  for (const u of config.users) addSecrets(u.password, u.token);
  const log = createLogger();
  warn = (m) => log.warn(m);
  for (const w of loaded.warnings) log.warn(formatConfigError(w));
  if (config.users.length === 0) {
    log.warn('NO USERS CONFIGURED: the API, the wall and every stream are open to anyone who can reach this server. Add `users:` to the config to require sign-in.');
  }
  const gateway = new Gateway(config, log, { store: loaded.store });
  const app = await buildHttpServer({ gateway, logger: log });
  const { host, port } = config.server.http;
  await app.listen({ host: host || '0.0.0.0', port });
  log.info(`camgate listening on http://${host || 'localhost'}:${port} with ${config.cameras.length} camera(s)`);
  gateway.start();
  // Hand edits apply live; an invalid edit is logged as FILE:LINE:COL and the running config stays.
  const watcher = watchConfigFile(file, () => void gateway.reloadConfig().catch((e: unknown) => log.error({ err: e }, 'config reload failed')), {
    onError: (e) => log.warn(`config: cannot watch ${file} (${e.message}); edits to it apply after a restart`),
  });
  const r = config.server.restream;
  const rtsp = new RtspServer({
    gateway,
    host: config.server.rtsp.host,
    port: config.server.rtsp.port,
    logger: log,
    udpPorts: r?.udpPorts,
    multicast: { groups: r?.multicastGroups, ports: r?.multicastPorts, ttl: r?.multicastTtl, interface: r?.multicastInterface },
  });
  await rtsp.listen();
  log.info(`camgate RTSP restream on rtsp://${config.server.rtsp.host || 'localhost'}:${rtsp.port}/<camera>`);
  let rtsps: RtspServer | undefined;
  if (config.server.rtsps && config.server.tls) {
    const { host: h, port: p } = config.server.rtsps;
    rtsps = new RtspServer({ gateway, host: h, port: p, logger: log, tls: { cert: readFileSync(config.server.tls.cert), key: readFileSync(config.server.tls.key) } });
    await rtsps.listen();
    log.info(`camgate RTSPS restream on rtsps://${h || 'localhost'}:${rtsps.port}/<camera>`);
  }
  const statusTimer = setInterval(() => {
    for (const s of gateway.statuses()) {
      log.info({ camera: s.id, state: s.state, transport: s.transport, quality: s.quality, lastError: s.lastError ?? undefined }, `camera ${s.id}: ${s.state}`);
    }
  }, 30_000);
  statusTimer.unref();
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log.info('shutting down');
  clearInterval(statusTimer);
  watcher.close();
  await rtsp.close();
  await rtsps?.close();
  await gateway.stop();
  await app.close();
  return 0;
}

async function check(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, options: {}, allowPositionals: true });
  const file = positionals[0];
  if (!file) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const loaded = await loadConfigFile(file);
  if (!loaded.ok) {
    for (const e of loaded.errors) process.stdout.write(`${formatConfigError(e)}\n`);
    return 1;
  }
  for (const w of loaded.warnings) process.stdout.write(`${formatConfigError(w)} (warning)\n`);
  process.stdout.write(`${file}: OK (${loaded.config.cameras.length} camera(s), ${loaded.config.users.length} user(s))\n`);
  return 0;
}

async function probeCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { transport: { type: 'string', short: 't' }, json: { type: 'boolean' }, seconds: { type: 'string' } },
    allowPositionals: true,
  });
  const url = positionals[0];
  if (!url) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const transport = (values.transport ?? 'auto') as 'auto' | 'tcp' | 'udp' | 'multicast';
  if (!['auto', 'tcp', 'udp', 'multicast'].includes(transport)) {
    process.stderr.write(`unknown transport '${transport}' (tcp, udp, multicast or auto)\n`);
    return 2;
  }
  const seconds = values.seconds ? Number(values.seconds) : 3;
  try {
    const result = await probe(url, { transport, seconds });
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatProbe(result));
    return 0;
  } catch (e) {
    process.stderr.write(`probe failed: ${redactSecrets((e as Error).message)}\n`);
    return 1;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
      return serve([]);
    case 'serve':
      return serve(rest);
    case 'check':
      return check(rest);
    case 'probe':
      return probeCmd(rest);
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      if (cmd.startsWith('-')) return serve(argv);
      process.stderr.write(`unknown command '${cmd}'\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`camgate: ${redactSecrets((e as Error)?.stack ?? String(e))}\n`);
    process.exit(1);
  },
);
