/**
 * Config persistence: the atomic write, comments and formatting of untouched parts kept, a failed
 * write leaving the old file intact, and edits that race with hand edits of the file.
 */
import { describe, it, expect } from 'vitest';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigStore, ConfigEditError, writeFileAtomic } from '../../../src/config/save.ts';
import { parseConfig } from '../../../src/config/load.ts';

const dir = () => mkdtempSync(path.join(tmpdir(), 'camgate-save-'));

const ORIGINAL = `# Site: warehouse 3
server:
  http: ":8080"     # behind the proxy

users:
  - name: admin
    password: "s3cret"   # rotate yearly
    role: admin

cameras:
  # ---- ground floor ----
  lobby:
    name: Lobby entrance
    url: rtsp://user:p%40ss@10.0.0.10:554/Streaming/Channels/101   # main
    sub: rtsp://user:p%40ss@10.0.0.10:554/Streaming/Channels/102
    transport: tcp   # UDP is blocked here
    tags: [floor1, entrance]

  # ---- yard ----
  yard:
    url: 'rtsp://10.0.0.11/stream1'
    onDemand: true
`;

async function load(text = ORIGINAL, opts = {}) {
  const d = dir();
  const file = path.join(d, 'cameras.yaml');
  writeFileSync(file, text);
  const r = await ConfigStore.load(file, opts);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { store: r.store, file, dir: d };
}

/** Lines of `text` that don't mention `id` — what an edit of camera `id` must leave alone. */
function untouched(text: string, from: string): string {
  return text.slice(0, text.indexOf(from));
}

describe('writeFileAtomic', () => {
  it('replaces the file, keeps its permission bits, and leaves no temp file behind', async () => {
    const d = dir();
    const f = path.join(d, 'c.yaml');
    writeFileSync(f, 'old\n');
    chmodSync(f, 0o640);
    await writeFileAtomic(f, 'new\n');
    expect(readFileSync(f, 'utf8')).toBe('new\n');
    expect(statSync(f).mode & 0o777).toBe(0o640);
    expect(readdirSync(d)).toEqual(['c.yaml']);
  });

  it('creates a new file 0600 (it holds passwords)', async () => {
    const f = path.join(dir(), 'fresh.yaml');
    await writeFileAtomic(f, 'x: 1\n');
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('writes through a symlink: the target changes, the link stays a link', async () => {
    const d = dir();
    const target = path.join(d, 'real.yaml');
    const link = path.join(d, 'cameras.yaml');
    writeFileSync(target, 'old\n');
    symlinkSync(target, link);
    await writeFileAtomic(link, 'new\n');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('new\n');
  });

  it('a write that fails before the rename (crash, full disk) leaves the old file byte for byte and removes the temp file', async () => {
    const d = dir();
    const f = path.join(d, 'c.yaml');
    writeFileSync(f, 'old contents\n');
    let tmpSeen = '';
    await expect(
      writeFileAtomic(f, 'new contents\n', {
        beforeRename: (tmp) => {
          tmpSeen = tmp;
          // the temp file is complete and synced at this point
          expect(readFileSync(tmp, 'utf8')).toBe('new contents\n');
          throw Object.assign(new Error('No space left on device'), { code: 'ENOSPC' });
        },
      }),
    ).rejects.toThrow(/No space/);
    expect(path.dirname(tmpSeen)).toBe(d);
    expect(readFileSync(f, 'utf8')).toBe('old contents\n');
    expect(readdirSync(d)).toEqual(['c.yaml']);
  });

  it('fails cleanly when the directory does not exist', async () => {
    await expect(writeFileAtomic(path.join(dir(), 'missing', 'c.yaml'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('ConfigStore edits', () => {
  it('adding a camera keeps every comment and every untouched line as written', async () => {
    const { store, file } = await load();
    const cfg = await store.putCamera('dock', { url: 'rtsp://10.0.0.12/live', transport: 'udp', tags: ['yard'] }, 'create');
    expect(cfg.cameras.map((c) => c.id)).toEqual(['lobby', 'yard', 'dock']);
    const text = readFileSync(file, 'utf8');
    // The old text is kept byte for byte; the new camera is appended after the last one.
    expect(text.startsWith(ORIGINAL)).toBe(true);
    for (const comment of ['# Site: warehouse 3', '# behind the proxy', '# rotate yearly', '# ---- ground floor ----', '# main', '# UDP is blocked here', '# ---- yard ----']) {
      expect(text).toContain(comment);
    }
    expect(text).toContain("url: 'rtsp://10.0.0.11/stream1'");
    expect(text).toContain('tags: [floor1, entrance]');
    expect(text).toContain('password: "s3cret"');
    expect(text).toMatch(/\n {2}dock:\n {4}url: rtsp:\/\/10\.0\.0\.12\/live\n {4}transport: udp\n {4}tags:\n {6}- yard\n$/);
    // and the file still parses to the same config plus the new camera
    const again = parseConfig(text, file);
    expect(again.ok && again.config.cameras.find((c) => c.id === 'lobby')).toMatchObject({ transport: 'tcp', sub: expect.stringContaining('102') });
    expect(again.ok && again.config.users[0]!.password).toBe('s3cret');
  });

  it('replacing a camera edits it key by key: comments on its unchanged lines stay, other cameras are untouched', async () => {
    const { store, file } = await load();
    await store.putCamera(
      'lobby',
      { name: 'Lobby entrance', url: 'rtsp://user:p%40ss@10.0.0.10:554/Streaming/Channels/101', transport: 'udp', tags: ['floor1', 'entrance'] },
      'replace',
    );
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# main');
    expect(text).toContain('transport: udp # UDP is blocked here');
    expect(text).not.toContain('Channels/102'); // sub left out of the replacement → removed
    expect(text).toContain("yard:\n    url: 'rtsp://10.0.0.11/stream1'\n    onDemand: true\n");
    // everything outside the camera is kept byte for byte
    expect(untouched(text, '  lobby:')).toBe(untouched(ORIGINAL, '  lobby:'));
    expect(text.slice(text.indexOf('\n\n  # ---- yard'))).toBe(ORIGINAL.slice(ORIGINAL.indexOf('\n\n  # ---- yard')));
  });

  it('values that YAML would misread are quoted (a password "0123" stays a string)', async () => {
    const { store, file } = await load();
    await store.putCamera('num', { url: 'rtsp://10.0.0.13/x', username: 'admin', password: '0123' }, 'create');
    const r = parseConfig(readFileSync(file, 'utf8'), file);
    expect(r.ok && r.config.cameras.find((c) => c.id === 'num')!.password).toBe('0123');
  });

  it('deleting a camera removes just that camera', async () => {
    const { store, file } = await load();
    const cfg = await store.deleteCamera('yard');
    expect(cfg.cameras.map((c) => c.id)).toEqual(['lobby']);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('10.0.0.11');
    expect(text).toContain('lobby:');
    await expect(store.deleteCamera('yard')).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });

  it('an invalid camera is refused (400, every field named) and the file is not written', async () => {
    const { store, file } = await load();
    const before = readFileSync(file, 'utf8');
    const e = await store.putCamera('bad', { url: 'ftp://x', transport: 'smoke' }, 'create').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigEditError);
    expect((e as ConfigEditError).status).toBe(400);
    expect((e as ConfigEditError).errors.map((x) => x.path).sort()).toEqual(['cameras.bad.transport', 'cameras.bad.url']);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('a failed write answers save_failed (500), leaves the old file intact, and the store keeps the old config', async () => {
    let fail = true;
    const { store, file, dir: d } = await load(ORIGINAL, {
      beforeRename: () => {
        if (fail) throw Object.assign(new Error('EIO'), { code: 'EIO' });
      },
    });
    const e = await store.putCamera('dock', { url: 'rtsp://10.0.0.12/live' }, 'create').catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 500, code: 'save_failed' });
    expect((e as Error).message).toMatch(/EIO.*nothing was changed/);
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
    expect(readdirSync(d)).toEqual(['cameras.yaml']);
    expect(store.config.cameras.map((c) => c.id)).toEqual(['lobby', 'yard']);
    // the next edit works and does not resurrect the failed one
    fail = false;
    const cfg = await store.putCamera('gate', { url: 'rtsp://10.0.0.14/live' }, 'create');
    expect(cfg.cameras.map((c) => c.id)).toEqual(['lobby', 'yard', 'gate']);
    expect(readFileSync(file, 'utf8')).not.toContain('dock');
  });

  it('a valid hand edit not yet applied is adopted before an API edit, not overwritten', async () => {
    const { store, file } = await load();
    writeFileSync(file, ORIGINAL.replace('onDemand: true', 'onDemand: false  # changed by hand'));
    const cfg = await store.putCamera('dock', { url: 'rtsp://10.0.0.12/live' }, 'create');
    expect(cfg.cameras.find((c) => c.id === 'yard')!.onDemand).toBe(false);
    expect(readFileSync(file, 'utf8')).toContain('# changed by hand');
  });

  it('an invalid hand edit blocks API edits with 409 config_conflict naming FILE:LINE:COL, and the file keeps the hand edit', async () => {
    const { store, file } = await load();
    const broken = ORIGINAL.replace('transport: tcp', 'transport: tcpp');
    writeFileSync(file, broken);
    const e = await store.putCamera('dock', { url: 'rtsp://10.0.0.12/live' }, 'create').catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 409, code: 'config_conflict' });
    expect((e as Error).message).toContain(`${file}:16:16:`);
    expect(readFileSync(file, 'utf8')).toBe(broken);
  });

  it('adds the first camera to a file with `cameras: []` or no cameras key at all', async () => {
    for (const start of ['# empty site\ncameras: []\n', '# empty site\nusers: []\n']) {
      const { store, file } = await load(start);
      const cfg = await store.putCamera('first', { url: 'builtin:demo' }, 'create');
      expect(cfg.cameras.map((c) => c.id)).toEqual(['first']);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('# empty site');
      expect(text).toMatch(/cameras:\n {2}first:\n {4}url: builtin:demo\n/);
    }
  });

  it('with no file the store edits memory only', async () => {
    const r = parseConfig(ORIGINAL, 'x.yaml');
    if (!r.ok) throw new Error('fixture');
    const store = ConfigStore.memory(r.config);
    expect(store.persistent).toBe(false);
    const cfg = await store.putCamera('dock', { url: 'builtin:demo' }, 'create');
    expect(cfg.cameras.map((c) => c.id)).toEqual(['lobby', 'yard', 'dock']);
    expect((await store.sync()).kind).toBe('same');
  });

  it('sync() tells apart our own write (same), a valid edit (changed) and an invalid one', async () => {
    const { store, file } = await load();
    await store.putCamera('dock', { url: 'rtsp://10.0.0.12/live' }, 'create');
    expect((await store.sync()).kind).toBe('same');
    writeFileSync(file, `${readFileSync(file, 'utf8')}  extra:\n    url: builtin:demo\n`);
    const changed = await store.sync();
    expect(changed.kind).toBe('changed');
    writeFileSync(file, 'cameras:\n  x:\n    urll: builtin:demo\n');
    const bad = await store.sync();
    expect(bad.kind === 'invalid' && bad.errors.find((e) => e.path === 'cameras.x.urll')).toMatchObject({ line: 3, col: 5 });
    expect(store.config.cameras.map((c) => c.id)).toContain('extra');
  });
});
