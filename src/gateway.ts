import type { Config, CameraConfig } from './config/types.ts';
import { StreamHub } from './stream/stream.ts';
import { Camera, type CameraStatus, type Logger } from './camera/camera.ts';
import { SessionRegistry } from './stream/sessions.ts';
import { AccessControl } from './auth/access.ts';

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

  constructor(
    public config: Config,
    readonly log: Logger,
  ) {
    this.access = new AccessControl(config.users);
  }

  start(): void {
    for (const c of this.config.cameras) this.addCamera(c);
  }

  private addCamera(c: CameraConfig): void {
    const main = new Camera({ config: c, stream: this.hub.getOrCreate(c.id), logger: this.log, userAgent: USER_AGENT });
    const entry: { main: Camera; sub?: Camera } = { main };
    if (c.sub) {
      entry.sub = new Camera({ config: c, which: 'sub', stream: this.hub.getOrCreate(`${c.id}/sub`), logger: this.log, userAgent: USER_AGENT });
    }
    this.cameras.set(c.id, entry);
    // onDemand cameras connect when the first viewer arrives; the outputs that bring viewers come
    // with their own issues, so until then an onDemand camera waits in 'idle'.
    if (!c.onDemand) {
      main.start();
      entry.sub?.start();
    }
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
    const cam = this.cameraForStream(stream);
    if (!cam || !cam.config.onDemand) return () => undefined;
    const d = this.demand.get(stream) ?? { count: 0 };
    this.demand.set(stream, d);
    d.count++;
    if (d.timer) clearTimeout(d.timer);
    d.timer = undefined;
    cam.start();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      d.count--;
      if (d.count > 0) return;
      d.timer = setTimeout(() => {
        d.timer = undefined;
        if (d.count === 0) void cam.stop();
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
    const all: Promise<void>[] = [];
    for (const e of this.cameras.values()) {
      all.push(e.main.stop());
      if (e.sub) all.push(e.sub.stop());
    }
    await Promise.all(all);
  }
}
