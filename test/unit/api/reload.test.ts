/**
 * Hot reload of cameras.yaml: a hand edit applies live and restarts only the cameras that changed
 * (untouched cameras keep their Stream, epoch, consumers and viewers); an invalid edit is refused
 * with a logged FILE:LINE:COL error and the running config stays; API edits are not applied twice.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { renameSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { watchConfigFile, type ConfigWatcher } from '../../../src/config/watch.ts';
import { newSessionId } from '../../../src/stream/sessions.ts';
import type { Rig } from './helpers.ts';
import { startRig, until } from './helpers.ts';

const cams = (entries: Record<string, string>) =>
  `# reload test\ncameras:\n${Object.entries(entries)
    .map(([id, body]) => `  ${id}:\n${body
      .split('\n')
      .filter(Boolean)
      .map((l) => `    ${l}`)
      .join('\n')}\n`)
    .join('')}`;

const BASE = {
  a: 'url: builtin:demo   # untouched',
  b: 'url: builtin:demo\ntransport: auto',
  c: 'url: builtin:demo',
  e: 'url: builtin:demo\nname: Old name',
};

let rig: Rig | undefined;
let watcher: ConfigWatcher | undefined;
afterEach(async () => {
  watcher?.close();
  watcher = undefined;
  await rig?.close();
  rig = undefined;
});

async function setup(entries: Record<string, string> = BASE, pollMs = 0) {
  rig = await startRig(cams(entries));
  const r = rig;
  watcher = watchConfigFile(r.file, () => void r.gateway.reloadConfig(), { debounceMs: 50, pollMs });
  await until(() => Object.keys(entries).every((id) => r.gateway.status(id)?.state === 'streaming'), 10_000, 'all streaming');
  return r;
}

function viewer(r: Rig, stream: string) {
  const state = { kicked: false };
  const remove = r.gateway.sessions.add({
    id: newSessionId(),
    protocol: 'hls',
    stream,
    remoteAddress: '127.0.0.1',
    startedAt: new Date(),
    bytesSent: () => 0,
    kick: () => {
      state.kicked = true;
      remove();
    },
  });
  return state;
}

const applied = (r: Rig) => r.logs.lines.filter((l) => l.msg === 'config applied');

describe('hot reload', () => {
  it('applies a hand edit live: only changed cameras restart; untouched ones keep stream, epoch, consumers and viewers', async () => {
    const r = await setup();
    const before = Object.fromEntries(
      ['a', 'b', 'c', 'e'].map((id) => {
        const stream = r.gateway.hub.get(id)!;
        return [id, { stream, epoch: stream.epoch, camera: r.gateway.camera(id), consumer: stream.subscribe({ label: `test-${id}` }), viewer: viewer(r, id) }];
      }),
    );
    const deliveredBefore = before.a!.consumer.stats().delivered;

    // b: connection setting changed → restart; c: removed; d: added; e: only the name → relabel.
    writeFileSync(r.file, cams({ a: BASE.a, b: 'url: builtin:demo\ntransport: tcp', e: 'url: builtin:demo\nname: New name', d: 'url: builtin:demo' }));
    await until(() => r.gateway.status('d')?.state === 'streaming' && r.gateway.hub.get('b')!.epoch > before.b!.epoch, 10_000, 'reload applied');

    expect(applied(r).at(-1)).toMatchObject({ added: ['d'], removed: ['c'], restarted: ['b'], updated: ['e'] });
    // a: nothing touched
    expect(r.gateway.hub.get('a')).toBe(before.a!.stream);
    expect(r.gateway.camera('a')).toBe(before.a!.camera);
    expect(before.a!.stream.epoch).toBe(before.a!.epoch);
    expect(before.a!.consumer.isClosed).toBe(false);
    expect(before.a!.viewer.kicked).toBe(false);
    // and its consumer keeps receiving
    while (before.a!.consumer.tryNext()) {
      // drain
    }
    expect(await before.a!.consumer.next()).not.toBeNull();
    expect(before.a!.consumer.stats().delivered).toBeGreaterThan(deliveredBefore);
    // b: same Stream (its viewers stay, see a new epoch), new connection
    expect(r.gateway.hub.get('b')).toBe(before.b!.stream);
    expect(r.gateway.camera('b')).not.toBe(before.b!.camera);
    expect(before.b!.consumer.isClosed).toBe(false);
    expect(before.b!.viewer.kicked).toBe(false);
    // c: gone, its consumers closed and its viewers kicked
    expect(r.gateway.hub.get('c')).toBeUndefined();
    expect(r.gateway.status('c')).toBeUndefined();
    expect(before.c!.consumer.isClosed).toBe(true);
    expect(before.c!.viewer.kicked).toBe(true);
    // e: relabelled without reconnecting
    expect(r.gateway.status('e')!.name).toBe('New name');
    expect(r.gateway.camera('e')).toBe(before.e!.camera);
    expect(before.e!.stream.epoch).toBe(before.e!.epoch);
    // status list in the file's order
    expect(r.gateway.statuses().map((s) => s.id)).toEqual(['a', 'b', 'e', 'd']);
    for (const b of Object.values(before)) b.consumer.close();
  });

  it('sees saves made the way editors do (write a new file, rename it over the old one), also through the stat poll', async () => {
    for (const pollMs of [0, 100]) {
      const r = await setup({ a: BASE.a }, pollMs);
      if (pollMs > 0) {
        // poll only: stop the fs.watch path by replacing the watcher
        watcher!.close();
        const rr = r;
        watcher = watchConfigFile(rr.file, () => void rr.gateway.reloadConfig(), { debounceMs: 20, pollMs, fsWatch: false });
      }
      const tmp = path.join(path.dirname(r.file), '.cameras.yaml.swp');
      writeFileSync(tmp, cams({ a: BASE.a, z: 'url: builtin:demo' }));
      renameSync(tmp, r.file);
      await until(() => r.gateway.status('z') !== undefined, 10_000, 'z added');
      // and a second save after the rename is seen too (the watch did not stay on the old inode)
      writeFileSync(tmp, cams({ a: BASE.a }));
      renameSync(tmp, r.file);
      await until(() => r.gateway.status('z') === undefined, 10_000, 'z removed');
      watcher!.close();
      watcher = undefined;
      await r.close();
      rig = undefined;
    }
  });

  it('refuses an invalid edit with a logged FILE:LINE:COL error; the running config, streams and viewers stay; a fix then applies', async () => {
    const r = await setup({ a: BASE.a, b: BASE.b });
    const streamB = r.gateway.hub.get('b')!;
    const epochB = streamB.epoch;
    const consumer = streamB.subscribe({ label: 'test' });
    const text = cams({ a: BASE.a, b: 'url: builtin:demo\ntransport: tcpp', c: 'url: builtin:demo' });
    writeFileSync(r.file, text);
    await until(() => r.logs.lines.some((l) => l.msg.includes('was refused')), 10_000, 'refusal logged');
    const errLine = r.logs.lines.find((l) => l.level === 50 && l.msg.includes(`${r.file}:`))!;
    // line 7 column 16 of the file: the value of b's transport
    expect(errLine.msg).toBe(`config: ${r.file}:7:16: cameras.b.transport: must be one of auto, tcp, udp, multicast (got "tcpp")`);
    expect(r.gateway.status('c')).toBeUndefined();
    expect(r.gateway.config.cameras.find((c) => c.id === 'b')!.transport).toBe('auto');
    expect(streamB.epoch).toBe(epochB);
    expect(consumer.isClosed).toBe(false);
    expect(applied(r)).toHaveLength(0);
    // the API refuses to overwrite the broken file rather than lose the edit
    const post = await r.app.inject({ method: 'POST', url: '/api/cameras', payload: { id: 'x', url: 'builtin:demo' } });
    expect(post.statusCode).toBe(409);
    expect(post.json().message).toContain(`${r.file}:7:16`);
    expect(readFileSync(r.file, 'utf8')).toBe(text);

    writeFileSync(r.file, text.replace('tcpp', 'tcp'));
    await until(() => r.gateway.status('c')?.state === 'streaming', 10_000, 'fixed edit applied');
    expect(r.gateway.config.cameras.find((c) => c.id === 'b')!.transport).toBe('tcp');
    consumer.close();
  });

  it('an API edit is applied once: the watcher recognises the gateway\'s own write', async () => {
    const r = await setup({ a: BASE.a });
    const res = await r.app.inject({ method: 'POST', url: '/api/cameras', payload: { id: 'n', url: 'builtin:demo' } });
    expect(res.statusCode).toBe(201);
    await new Promise((ok) => setTimeout(ok, 400)); // several debounce periods
    expect(applied(r)).toHaveLength(1);
    expect(await r.gateway.reloadConfig()).toBeUndefined();
    expect(readFileSync(r.file, 'utf8')).toContain('# untouched');
  });

  it('users apply live: adding a user closes open access at once', async () => {
    const r = await setup({ a: BASE.a });
    expect((await r.app.inject({ url: '/api/cameras' })).statusCode).toBe(200);
    writeFileSync(r.file, `users:\n  - name: admin\n    token: "tok-123456"\n    role: admin\n${cams({ a: BASE.a })}`);
    await until(() => !r.gateway.access.open, 10_000, 'users applied');
    expect((await r.app.inject({ url: '/api/cameras' })).statusCode).toBe(401);
    expect((await r.app.inject({ url: '/api/cameras', headers: { authorization: 'Bearer tok-123456' } })).statusCode).toBe(200);
    // camera a untouched by a users-only change
    expect(applied(r)).toHaveLength(0);
  });
});
