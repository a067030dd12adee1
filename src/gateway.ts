import type { Config, CameraConfig } from './config/types.ts';
import { StreamHub } from './stream/stream.ts';
import { Camera, type CameraStatus, type Logger } from './camera/camera.ts';
import { SessionRegistry } from './stream/sessions.ts';
import { AccessControl } from './auth/access.ts';
import { ConfigStore, type CameraBody } from './config/save.ts';
import { formatConfigError } from './config/load.ts';
import { addSecrets } from './log.ts';

/** What a config change did, camera by camera. */
export interface ApplyResult {
  added: string[];
  removed: string[];
  /** Restarted: their connection settings changed. */
  restarted: string[];
  /** Only name or tags changed: updated without reconnecting. */
  updated: string[];
  unchanged: string[];
  /** Settings that only take effect after a restart of camgate (listening ports, HLS timing). */
  needsRestart: string[];
}

/** Camera fields that can change without reconnecting (they only label the camera). */
const LABEL_FIELDS = ['name', 'tags'] as const;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function connectionPart(c: CameraConfig): Omit<CameraConfig, 'name' | 'tags'> {
  const { name: _n, tags: _t, ...rest } = c;
  return rest;
}

/** How long an on-demand camera stays connected after its last viewer left. */
export const ON_DEMAND_LINGER_MS = 10_000;

export const USER_AGENT = 'camgate/0.1';

/**
 * The running gateway: the stream hub and one Camera state machine per configured stream
 * (`<camera>` and, when `sub` is set, `<camera>/sub`).
 */
export class Gateway {
  readonly hub = new StreamHub();
  readonly sessions = new SessionRegistry();
  readonly access: AccessControl;
  private readonly cameras = new Map<string, { main: Camera; sub?: Camera }>();
  /** Outstanding acquire() calls per stream (on-demand cameras). */
  private readonly demand = new Map<string, { count: number; timer?: NodeJS.Timeout }>();
  /** The config file (or memory, when there is none): every API edit goes through it. */
  readonly store: ConfigStore;
  /** Config edits and reloads run one at a time, in arrival order. */
  private edits: Promise<unknown> = Promise.resolve();
  private started = false;

  constructor(
    public config: Config,
    readonly log: Logger,
    opts: { store?: ConfigStore } = {},
  ) {
    this.access = new AccessControl(config.users);
    this.store = opts.store ?? ConfigStore.memory(config);
  }

  start(): void {
    this.started = true;
    for (const c of this.config.cameras) this.addCamera(c);
  }

  private addCamera(c: CameraConfig): void {
    addSecrets(c.password);
    const main = new Camera({ config: c, stream: this.hub.getOrCreate(c.id), logger: this.log, userAgent: USER_AGENT });
    const entry: { main: Camera; sub?: Camera } = { main };
    if (c.sub) {
      entry.sub = new Camera({ config: c, which: 'sub', stream: this.hub.getOrCreate(`${c.id}/sub`), logger: this.log, userAgent: USER_AGENT });
    }
    this.cameras.set(c.id, entry);
    // onDemand cameras connect while some output holds acquire() on the stream.
    if (!c.onDemand || this.demanded(c.id)) main.start();
    if (entry.sub && (!c.onDemand || this.demanded(`${c.id}/sub`))) entry.sub.start();
  }

  private demanded(stream: string): boolean {
    return (this.demand.get(stream)?.count ?? 0) > 0;
  }

  /** Stop a camera's state machines; with `dropStreams`, also remove its streams (closing their consumers) and kick its viewers. */
  private async removeCamera(id: string, dropStreams: { main: boolean; sub: boolean }): Promise<void> {
    const e = this.cameras.get(id);
    if (!e) return;
    await Promise.all([e.main.stop(), e.sub?.stop()]);
    const dropped: string[] = [];
    if (dropStreams.main) dropped.push(id);
    if (dropStreams.sub) dropped.push(`${id}/sub`);
    for (const s of this.sessions.list()) if (dropped.includes(s.stream)) s.kick();
    for (const name of dropped) this.hub.delete(name);
  }

  /**
   * Make the running gateway match `next`: new cameras start, removed ones stop (their viewers are
   * kicked), cameras whose connection settings changed restart on the SAME Stream (viewers stay and
   * see a discontinuity), cameras whose name or tags changed are relabelled, and everything else is
   * left alone: its Stream, epoch, consumers and viewers are not touched. Users apply at once.
   */
  async applyConfig(next: Config): Promise<ApplyResult> {
    const prev = this.config;
    const result: ApplyResult = { added: [], removed: [], restarted: [], updated: [], unchanged: [], needsRestart: [] };
    if (!sameJson(prev.server, next.server)) result.needsRestart.push('server');
    if (!sameJson(prev.hls, next.hls)) result.needsRestart.push('hls');
    this.config = next;
    if (!sameJson(prev.users, next.users)) {
      for (const u of next.users) addSecrets(u.password, u.token);
      this.access.setUsers(next.users);
    }
    const nextIds = new Set(next.cameras.map((c) => c.id));
    const work: Promise<void>[] = [];
    for (const id of [...this.cameras.keys()]) {
      if (nextIds.has(id)) continue;
      result.removed.push(id);
      work.push(this.removeCamera(id, { main: true, sub: true }));
      this.cameras.delete(id);
    }
    const restart: CameraConfig[] = [];
    for (const c of next.cameras) {
      const e = this.cameras.get(c.id);
      if (!e) {
        result.added.push(c.id);
        continue;
      }
      const old = e.main.config;
      if (sameJson(old, c)) {
        result.unchanged.push(c.id);
      } else if (sameJson(connectionPart(old), connectionPart(c))) {
        // Camera objects share this config object; relabel in place rather than reconnect.
        for (const k of LABEL_FIELDS) (old as unknown as Record<string, unknown>)[k] = c[k];
        result.updated.push(c.id);
      } else {
        result.restarted.push(c.id);
        restart.push(c);
        // Keep the streams (and so the viewers) unless the sub-stream goes away.
        work.push(this.removeCamera(c.id, { main: false, sub: !!old.sub && !c.sub }));
      }
    }
    await Promise.all(work);
    if (this.started) {
      for (const c of restart) this.addCamera(c);
      for (const id of result.added) this.addCamera(next.cameras.find((c) => c.id === id)!);
    } else {
      for (const c of restart) this.cameras.delete(c.id);
    }
    // Keep status lists in config order.
    const ordered = new Map<string, { main: Camera; sub?: Camera }>();
    for (const c of next.cameras) {
      const e = this.cameras.get(c.id);
      if (e) ordered.set(c.id, e);
    }
    this.cameras.clear();
    for (const [k, v] of ordered) this.cameras.set(k, v);
    const changed = result.added.length + result.removed.length + result.restarted.length + result.updated.length;
    if (changed > 0) {
      this.log.info({ added: result.added, removed: result.removed, restarted: result.restarted, updated: result.updated }, 'config applied');
    }
    if (result.needsRestart.length > 0) this.log.warn(`config: changes to ${result.needsRestart.join(' and ')} take effect after camgate restarts`);
    return result;
  }

  /** Run config edits one at a time. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.edits.then(fn, fn);
    this.edits = run.catch(() => undefined);
    return run;
  }

  /** POST /api/cameras: validate, persist, start. Throws ConfigEditError. */
  createCamera(id: string, body: CameraBody): Promise<ApplyResult> {
    return this.serialize(async () => this.applyConfig(await this.store.putCamera(id, body, 'create')));
  }

  /** PUT /api/cameras/<id>: validate, persist, restart it if its connection changed. Throws ConfigEditError. */
  replaceCamera(id: string, body: CameraBody): Promise<ApplyResult> {
    return this.serialize(async () => this.applyConfig(await this.store.putCamera(id, body, 'replace')));
  }

  /** DELETE /api/cameras/<id>: persist, stop, kick its viewers. Throws ConfigEditError. */
  deleteCamera(id: string): Promise<ApplyResult> {
    return this.serialize(async () => this.applyConfig(await this.store.deleteCamera(id)));
  }

  /**
   * The config file changed on disk (the watcher calls this). A valid edit is applied; an invalid one
   * is logged as FILE:LINE:COL errors and the running config stays.
   */
  reloadConfig(): Promise<ApplyResult | undefined> {
    return this.serialize(async () => {
      const r = await this.store.sync();
      if (r.kind === 'same') return undefined;
      if (r.kind === 'invalid') {
        // An editor's save can leave the file missing for an instant; the next event brings it back.
        if (r.errors.length === 1 && r.errors[0]!.message === 'file not found') {
          this.log.warn(`config: ${r.errors[0]!.file} disappeared; keeping the running config`);
          return undefined;
        }
        for (const e of r.errors) this.log.error(`config: ${formatConfigError(e)}`);
        this.log.error(`config: the edit of ${this.store.file} was refused (${r.errors.length} error(s)); the running config stays`);
        return undefined;
      }
      for (const w of r.warnings) this.log.warn(`config: ${formatConfigError(w)}`);
      return this.applyConfig(r.config);
    });
  }

  /** POST /api/cameras/<id>/restart: reconnect the camera (and its sub-stream); false if unknown. */
  async restartCamera(id: string): Promise<boolean> {
    const e = this.cameras.get(id);
    if (!e) return false;
    const c = e.main.config;
    // An on-demand camera nobody watches stays idle: restarting it would connect it for nothing.
    const wanted = (stream: string) => !c.onDemand || this.demanded(stream);
    await Promise.all([
      wanted(id) ? e.main.restart() : e.main.stop(),
      e.sub ? (wanted(`${id}/sub`) ? e.sub.restart() : e.sub.stop()) : undefined,
    ]);
    return true;
  }

  camera(id: string): Camera | undefined {
    return this.cameras.get(id)?.main;
  }

  /** The Camera that feeds a stream name (`<camera>` or `<camera>/sub`). */
  cameraForStream(stream: string): Camera | undefined {
    const sub = stream.endsWith('/sub');
    const e = this.cameras.get(sub ? stream.slice(0, -4) : stream);
    return sub ? e?.sub : e?.main;
  }

  /**
   * An output starts using a stream. For an onDemand camera this connects it; the returned function
   * releases it, and the camera disconnects ON_DEMAND_LINGER_MS after the last release.
   */
  acquire(stream: string): () => void {
    // Demand is counted for every known stream, so a camera that is switched to onDemand (or
    // replaced) by a config change knows whether someone is watching.
    if (!this.cameraForStream(stream)) return () => undefined;
    const d = this.demand.get(stream) ?? { count: 0 };
    this.demand.set(stream, d);
    d.count++;
    if (d.timer) clearTimeout(d.timer);
    d.timer = undefined;
    const cam = this.cameraForStream(stream);
    if (cam?.config.onDemand) cam.start();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      d.count--;
      if (d.count > 0) return;
      d.timer = setTimeout(() => {
        d.timer = undefined;
        if (d.count !== 0) return;
        this.demand.delete(stream);
        // Looked up now, not at acquire time: the camera may have been replaced meanwhile.
        const now = this.cameraForStream(stream);
        if (now?.config.onDemand) void now.stop();
      }, ON_DEMAND_LINGER_MS);
      d.timer.unref();
    };
  }

  /** Main stream status of every camera, in config order. */
  statuses(): CameraStatus[] {
    return [...this.cameras.values()].map((e) => this.statusOf(e));
  }

  status(id: string): CameraStatus | undefined {
    const e = this.cameras.get(id);
    return e ? this.statusOf(e) : undefined;
  }

  private statusOf(e: { main: Camera; sub?: Camera }): CameraStatus & { sub?: CameraStatus } {
    const s: CameraStatus & { sub?: CameraStatus } = e.main.status(this.sessions.viewers(e.main.id));
    if (e.sub) s.sub = e.sub.status();
    return s;
  }

  async stop(): Promise<void> {
    for (const d of this.demand.values()) if (d.timer) clearTimeout(d.timer);
    const all: Promise<void>[] = [];
    for (const e of this.cameras.values()) {
      all.push(e.main.stop());
      if (e.sub) all.push(e.sub.stop());
    }
    await Promise.all(all);
  }
}
