// Plain-JS entry of a WebRTC worker thread: module hooks registered in the main thread (tsx, vitest)
// do not reach workers on Node 20, so the worker registers tsx itself, then loads worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
