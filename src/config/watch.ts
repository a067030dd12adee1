/**
 * Watches cameras.yaml and calls back (debounced) when it may have changed. The callback re-reads
 * and compares the text, so a spurious or duplicate event costs one read and nothing else.
 *
 * The directory is watched, not the file: editors such as vim and many config tools save by writing
 * a new file and renaming it over the old one, and a watch on the old inode would go quiet after the
 * first save. A slow stat poll backs fs.watch up where inotify does not see changes (network
 * filesystems, files bind-mounted into containers).
 */
import { watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import path from 'node:path';

export interface ConfigWatcher {
  close(): void;
}

export interface WatchOptions {
  /** Quiet time after the last event before calling back (editors write in several steps). Default 250 ms. */
  debounceMs?: number;
  /** Stat poll interval; 0 disables the poll. Default 2000 ms. */
  pollMs?: number;
  /** Use fs.watch (default true); false leaves only the stat poll (tests, odd filesystems). */
  fsWatch?: boolean;
  onError?: (e: Error) => void;
}

export function watchConfigFile(file: string, onChange: () => void, opts: WatchOptions = {}): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? 250;
  const pollMs = opts.pollMs ?? 2000;
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const kick = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) onChange();
    }, debounceMs);
  };
  let watcher: FSWatcher | undefined;
  if (opts.fsWatch !== false) {
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        // Some platforms give no file name; then any change in the directory counts.
        if (name === null || name === undefined || name.toString() === base) kick();
      });
      watcher.on('error', (e) => opts.onError?.(e));
    } catch (e) {
      opts.onError?.(e as Error);
    }
  }
  const poll = () => kick();
  let settle: NodeJS.Timeout | undefined;
  if (pollMs > 0) {
    watchFile(file, { interval: pollMs, persistent: false }, poll);
    // The poll compares against its first stat, taken asynchronously after this call: a save that
    // lands before that first stat would never be seen. One check after the first interval covers it
    // (the callback compares the text, so an unchanged file costs one read).
    settle = setTimeout(kick, pollMs);
    settle.unref();
  }
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (settle) clearTimeout(settle);
      watcher?.close();
      if (pollMs > 0) unwatchFile(file, poll);
    },
  };
}
