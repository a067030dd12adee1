/**
 * Young-generation GCs between frames instead of in the middle of one.
 *
 * V8 runs a scavenge when the new space fills up, i.e. during some allocation, which on a gateway
 * means while a frame is being depacketized or fanned out: that frame waits for the whole pause
 * (1.3–5 ms measured on the restream and in the WebRTC workers, about 1 % of frames, which is
 * exactly the p99 of the added latency). After each published frame, once its fan-out has run
 * (setImmediate comes after the I/O callbacks and microtasks of the turn), this checks how full the
 * new space is and, past FILL, scavenges there and then, so the next frame finds room. It does not
 * add scavenges: it moves them to a moment when nothing waits for the thread.
 *
 * The `gc` function comes from V8's --expose-gc, set at run time (every thread, not only those
 * started with the flag). CAMGATE_IDLE_GC=0 turns this off.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type GcFn = (options?: { type?: 'minor' | 'major' }) => void;

/** Scavenge ahead of time when the new space is fuller than this. */
const FILL = 0.85;
/** At most one check per this many ms (a check reads V8's heap space statistics, ~15 µs). */
const MIN_INTERVAL_MS = 10;

let gcFn: GcFn | undefined | null = null;
let pending = false;
let lastCheck = 0;
const enabled = process.env.CAMGATE_IDLE_GC !== '0';

function gc(): GcFn | undefined {
  if (gcFn === null) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as GcFn;
    } catch {
      gcFn = undefined;
    }
  }
  return gcFn;
}

/** Call after a unit of work (a published frame); the check runs once the current turn is done. */
export function scavengeWhenIdle(): void {
  if (pending || !enabled) return;
  pending = true;
  setImmediate(check);
}

/** How full the new space is (0–1). */
export function newSpaceFill(): number {
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space') return s.space_used_size / Math.max(1, s.space_used_size + s.space_available_size);
  }
  return 0;
}

function check(): void {
  pending = false;
  const now = performance.now();
  if (now - lastCheck < MIN_INTERVAL_MS) return;
  lastCheck = now;
  if (newSpaceFill() < FILL) return;
  gc()?.({ type: 'minor' });
}
