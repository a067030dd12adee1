/**
 * The config as the running gateway knows it, and the only writer of cameras.yaml.
 *
 * API edits change the yaml Document that parseConfig returned (so the user's comments and the
 * formatting of everything untouched survive), the edited text is validated again as a whole, and
 * then written atomically: a temp file in the same directory, fsync, rename over the original,
 * fsync of the directory. A failed write leaves the old file as it was.
 */
import { open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Document, isMap, isScalar, Pair, YAMLMap } from 'yaml';
import { formatConfigError, MAX_CONFIG_BYTES, parseConfig, validateCamera } from './load.ts';
import { redactText } from './credentials.ts';
import type { CameraConfig, Config, ConfigError } from './types.ts';

/** One gateway process is not meant for more; a runaway script adding cameras must stop somewhere. */
export const MAX_CAMERAS = 1000;

/** Why an edit was refused; `status` is the HTTP status the API answers with. */
export class ConfigEditError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 500,
    readonly code: string,
    message: string,
    readonly errors: ConfigError[] = [],
  ) {
    super(message);
  }
}

export interface AtomicWriteOptions {
  /** Test hook: runs after the temp file is written and synced, before the rename. A throw aborts the write. */
  beforeRename?: (tmp: string) => void | Promise<void>;
  /** Called when the file could only be rewritten in place (see below). */
  onInPlace?: (why: string) => void;
}

async function fsyncDir(dir: string): Promise<void> {
  // Makes the rename itself durable. Some filesystems refuse fsync on a directory; the rename has happened anyway.
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // best effort
  }
}

async function writeInPlace(file: string, text: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.truncate(0);
    await fh.write(text, 0, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replace `file` with `text` atomically. Symlinks are followed (the link's target is replaced, the
 * link kept), the file's permission bits are kept (it holds passwords), a new file gets 0600.
 *
 * Docker bind-mounts of a single file cannot be renamed over (EBUSY) and their directory is often
 * not writable: only then the file is rewritten in place (still fsynced), and `onInPlace` is told.
 */
export async function writeFileAtomic(file: string, text: string, opts: AtomicWriteOptions = {}): Promise<void> {
  const target = await realpath(file).catch(() => file);
  const dir = path.dirname(target);
  let mode = 0o600;
  let exists = false;
  try {
    const st = await stat(target);
    mode = st.mode & 0o777;
    exists = true;
  } catch {
    // new file
  }
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh;
  try {
    fh = await open(tmp, 'wx', mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (exists && (code === 'EACCES' || code === 'EPERM')) {
      opts.onInPlace?.(`cannot create a temp file next to it (${code})`);
      await writeInPlace(target, text);
      return;
    }
    throw e;
  }
  try {
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await opts.beforeRename?.(tmp);
    try {
      await rename(tmp, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!exists || (code !== 'EBUSY' && code !== 'EXDEV')) throw e;
      opts.onInPlace?.(`cannot rename over it (${code}); is it a single-file bind mount?`);
      await writeInPlace(target, text);
      await unlink(tmp).catch(() => undefined);
      return;
    }
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dir);
}

/** Body of a camera as the API receives it (validated by validateCamera, never trusted as is). */
export type CameraBody = Record<string, unknown>;

function plainEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface LoadedStore {
  ok: true;
  store: ConfigStore;
  warnings: ConfigError[];
}

/**
 * The current config, its Document and the text last read from or written to the file. Edits are
 * serialised (one at a time) by the Gateway; this class does not apply anything itself.
 */
export class ConfigStore {
  /** Text of the file as last read or written by us: lets the watcher ignore our own writes. */
  private text: string | undefined;

  private constructor(
    /** undefined: no file (tests, embedding); edits then live in memory only. */
    readonly file: string | undefined,
    private document: Document | undefined,
    private current: Config,
    text: string | undefined,
    private readonly writeOpts: AtomicWriteOptions = {},
  ) {
    this.text = text;
  }

  static memory(config: Config): ConfigStore {
    return new ConfigStore(undefined, undefined, config, undefined);
  }

  static async load(file: string, writeOpts: AtomicWriteOptions = {}): Promise<LoadedStore | { ok: false; errors: ConfigError[] }> {
    const read = await readConfigText(file);
    if (!read.ok) return read;
    const r = parseConfig(read.text, file);
    if (!r.ok) return r;
    return { ok: true, store: new ConfigStore(file, r.document, r.config, read.text, writeOpts), warnings: r.warnings };
  }

  get config(): Config {
    return this.current;
  }

  get persistent(): boolean {
    return this.file !== undefined;
  }

  /**
   * Re-read the file. Returns 'same' when it holds what we last read or wrote, the new Config when
   * it changed and is valid (adopted), or the errors when it is invalid (nothing adopted).
   */
  async sync(): Promise<{ kind: 'same' } | { kind: 'changed'; config: Config; warnings: ConfigError[] } | { kind: 'invalid'; errors: ConfigError[] }> {
    if (!this.file) return { kind: 'same' };
    const read = await readConfigText(this.file);
    if (!read.ok) return { kind: 'invalid', errors: read.errors };
    if (read.text === this.text) return { kind: 'same' };
    const r = parseConfig(read.text, this.file);
    if (!r.ok) return { kind: 'invalid', errors: r.errors };
    this.document = r.document;
    this.current = r.config;
    this.text = read.text;
    return { kind: 'changed', config: r.config, warnings: r.warnings };
  }

  /** Add (`create`) or replace (`replace`) one camera; persisted before it returns. */
  async putCamera(id: string, input: CameraBody, mode: 'create' | 'replace'): Promise<Config> {
    // `id` names the camera (the key under `cameras:`); it is not one of its fields.
    const body = Object.fromEntries(Object.entries(input).filter(([k, val]) => k !== 'id' && val !== undefined));
    const v = validateCamera(id, body);
    if (!v.ok) {
      const first = v.errors[0];
      throw new ConfigEditError(400, 'invalid_camera', first ? describeError(first) : 'invalid camera', v.errors);
    }
    await this.syncBeforeEdit();
    const exists = this.current.cameras.some((c) => c.id === id);
    if (mode === 'create' && exists) throw new ConfigEditError(409, 'exists', `camera '${id}' already exists; use PUT /api/cameras/${id} to replace it`);
    if (mode === 'replace' && !exists) throw new ConfigEditError(404, 'not_found', `no camera '${id}'`);
    if (!exists && this.current.cameras.length >= MAX_CAMERAS) throw new ConfigEditError(409, 'too_many_cameras', `at most ${MAX_CAMERAS} cameras`);
    const camera = v.camera;
    const cameras = exists ? this.current.cameras.map((c) => (c.id === id ? camera : c)) : [...this.current.cameras, camera];
    return this.commit({ ...this.current, cameras }, id, (doc) => {
      let cams = doc.get('cameras', true);
      if (!isMap(cams)) {
        // Absent, `cameras:` or `cameras: []`.
        cams = new YAMLMap();
        doc.set('cameras', cams);
      }
      const map = cams as YAMLMap;
      const fields = Object.entries(body);
      const node = map.get(id, true);
      if (mode === 'replace' && isMap(node)) {
        // Edit the camera's mapping key by key, so comments on unchanged lines stay.
        for (const pair of [...node.items]) {
          const k = isScalar(pair.key) ? String(pair.key.value) : typeof pair.key === 'string' ? pair.key : undefined;
          if (k !== undefined && !fields.some(([f]) => f === k)) node.delete(pair.key);
        }
        for (const [k, val] of fields) {
          const old = node.get(k, true);
          const oldJs = old && typeof (old as { toJSON?: () => unknown }).toJSON === 'function' ? (old as { toJSON: () => unknown }).toJSON() : old;
          if (plainEqual(oldJs, val)) continue;
          // A scalar changed to another scalar: change it in place, so a comment after it stays.
          if (isScalar(old) && (val === null || typeof val !== 'object')) old.value = val;
          else node.set(k, doc.createNode(val));
        }
      } else {
        map.set(id, doc.createNode(Object.fromEntries(fields)));
      }
    });
  }

  async deleteCamera(id: string): Promise<Config> {
    await this.syncBeforeEdit();
    if (!this.current.cameras.some((c) => c.id === id)) throw new ConfigEditError(404, 'not_found', `no camera '${id}'`);
    return this.commit({ ...this.current, cameras: this.current.cameras.filter((c) => c.id !== id) }, id, (doc) => {
      const cams = doc.get('cameras', true);
      if (isMap(cams)) cams.delete(id);
    });
  }

  /**
   * Before editing, make sure we edit what is on disk: a valid hand edit the watcher hasn't applied
   * yet is adopted (the caller applies the whole resulting config); an invalid one blocks API edits,
   * because writing would silently throw the user's edit away.
   */
  private async syncBeforeEdit(): Promise<void> {
    const r = await this.sync();
    if (r.kind === 'invalid') {
      throw new ConfigEditError(
        409,
        'config_conflict',
        `${this.file} has edits that are not valid, so it cannot be saved; fix them first: ${r.errors.slice(0, 3).map(formatConfigError).join('; ')}`,
        r.errors,
      );
    }
  }

  private async commit(next: Config, cameraId: string, edit: (doc: Document) => void): Promise<Config> {
    if (!this.file || !this.document) {
      this.current = next;
      return next;
    }
    // Edit a copy: if anything below fails, the store (and the file) still hold the old config.
    const doc = this.document.clone();
    edit(doc);
    const whole = doc.toString(STRINGIFY);
    let r = parseConfig(whole, this.file);
    if (!r.ok) {
      // The camera was valid alone; the whole file is not (should not happen: the rest was valid before).
      throw new ConfigEditError(400, 'invalid_config', r.errors.map(formatConfigError).slice(0, 3).join('; '), r.errors);
    }
    let text = whole;
    // Re-printing the whole Document keeps comments but normalises spacing everywhere; splicing just
    // the edited camera into the old text keeps every other byte. Used only when it provably yields
    // the same config as the whole-document print.
    const spliced = this.text !== undefined ? spliceCamera(this.text, this.document, doc, cameraId) : undefined;
    if (spliced !== undefined) {
      const rs = parseConfig(spliced, this.file);
      if (rs.ok && JSON.stringify(rs.config) === JSON.stringify(r.config)) {
        r = rs;
        text = spliced;
      }
    }
    try {
      await writeFileAtomic(this.file, text, this.writeOpts);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new ConfigEditError(500, 'save_failed', redactText(`could not save ${this.file} (${code}); nothing was changed`));
    }
    this.document = r.document;
    this.current = r.config;
    this.text = text;
    return r.config;
  }
}

/** `[a, b]` rather than yaml's default `[ a, b ]`: what people write (and ARCHITECTURE.md shows). */
const STRINGIFY = { flowCollectionPadding: false } as const;

function lineStartOf(text: string, pos: number): number {
  return text.lastIndexOf('\n', pos - 1) + 1;
}

/** Position just after the line that contains the character before `pos`. */
function lineEndOf(text: string, pos: number): number {
  if (pos > 0 && text[pos - 1] === '\n') return pos;
  const nl = text.indexOf('\n', pos);
  return nl < 0 ? text.length : nl + 1;
}

function findPair(map: YAMLMap, id: string): Pair | undefined {
  // Keys parsed from the file are Scalars; keys set by an edit may be plain strings.
  return map.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === id);
}

/**
 * `text` with camera `id`'s lines replaced by its printout from `edited` (or removed when it is gone
 * from `edited`, or appended after the last camera when it is new). undefined when the layout is not
 * a plain block mapping of cameras, one key per line (then the caller prints the whole Document).
 */
export function spliceCamera(text: string, original: Document, edited: Document, id: string): string | undefined {
  const before = original.get('cameras', true);
  const after = edited.get('cameras', true);
  if (!isMap(before) || before.flow || !isMap(after)) return undefined;
  const oldPair = findPair(before, id);
  const newPair = findPair(after, id);
  let block = '';
  if (newPair) {
    const key = isScalar(newPair.key) ? newPair.key.clone() : newPair.key;
    // Comments above the key stay where they are in the old text; don't print them twice.
    if (isScalar(key)) {
      key.commentBefore = undefined;
      key.spaceBefore = undefined;
    }
    const single = new Document(null);
    const map = new YAMLMap();
    map.items.push(new Pair(key, newPair.value));
    single.contents = map;
    block = single.toString(STRINGIFY);
  }
  const range = (n: unknown) => (n as { range?: [number, number, number] } | null)?.range;
  let start: number;
  let end: number;
  let indent: number;
  if (oldPair) {
    const k = range(oldPair.key);
    const v = range(oldPair.value);
    if (!k || !v) return undefined;
    start = lineStartOf(text, k[0]);
    if (text.slice(start, k[0]).trim() !== '') return undefined;
    indent = k[0] - start;
    end = lineEndOf(text, v[2]);
  } else {
    const last = before.items[before.items.length - 1];
    const k = range(last?.key);
    const v = range(last?.value);
    if (!k || !v) return undefined;
    indent = k[0] - lineStartOf(text, k[0]);
    start = end = lineEndOf(text, v[2]);
  }
  const pad = ' '.repeat(indent);
  const lines = block === '' ? '' : `${block.replace(/\n$/, '').split('\n').map((l) => (l === '' ? l : pad + l)).join('\n')}\n`;
  let head = text.slice(0, start);
  if (head !== '' && !head.endsWith('\n')) head += '\n';
  return head + lines + text.slice(end);
}

function describeError(e: ConfigError): string {
  return `${e.path ? `${e.path}: ` : ''}${e.message}`;
}

async function readConfigText(file: string): Promise<{ ok: true; text: string } | { ok: false; errors: ConfigError[] }> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: 'not a regular file' }] };
    if (st.size > MAX_CONFIG_BYTES) return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `file is larger than ${MAX_CONFIG_BYTES} bytes` }] };
    return { ok: true, text: await readFile(file, 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? 'error'})` }] };
  }
}

export type { CameraConfig };
