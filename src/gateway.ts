import type { Config, CameraConfig } from './config/types.ts';
import { StreamHub } from './stream/stream.ts';
import { Camera, type CameraStatus, type Logger } from './camera/camera.ts';

export const USER_AGENT = 'camgate/0.1';

/**
 * The running gateway: the stream hub and one Camera state machine per configured stream
 * (`<camera>` and, when `sub` is set, `<camera>/sub`).
 */
export class Gateway {
  readonly hub = new StreamHub();
  private readonly cameras = new Map<string, { main: Camera; sub?: Camera }>();

  constructor(
    public config: Config,
    private readonly log: Logger,
  ) {}

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

  /** Main stream status of every camera, in config order. */
  statuses(): CameraStatus[] {
    return [...this.cameras.values()].map((e) => this.statusOf(e));
  }

  status(id: string): CameraStatus | undefined {
    const e = this.cameras.get(id);
    return e ? this.statusOf(e) : undefined;
  }

  private statusOf(e: { main: Camera; sub?: Camera }): CameraStatus & { sub?: CameraStatus } {
    const s: CameraStatus & { sub?: CameraStatus } = e.main.status();
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
