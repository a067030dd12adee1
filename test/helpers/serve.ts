/**
 * `camgate serve --config FILE` as a child process, for interop tests of the real entry point: its
 * stdout and stderr collected, and a cleanup that stops it (SIGTERM) and waits for the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin/camgate.js');

export interface ServeProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  logs(): string;
  stop(): Promise<void>;
}

export function spawnServe(configFile: string): ServeProcess {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (d) => (logs += d));
  child.stderr!.on('data', (d) => (logs += d));
  return {
    child,
    logs: () => logs,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
