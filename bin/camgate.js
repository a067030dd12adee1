#!/usr/bin/env -S node --initial-old-space-size=128 --max-semi-space-size=16 --no-memory-reducer
// camgate is written in TypeScript; tsx compiles it on load, so `npx camgate` needs no build step.
//
// The heap flags above (also in the Dockerfile and the npm scripts) matter for ingest CPU: every
// camera's socket reads and frame copies are ArrayBuffers that count toward V8's old-generation
// limit; with V8's default small initial limit that forces a full mark-compact about every second
// at ten 4 Mbit/s cameras. A 128 MB initial limit halves camgate's CPU (see docs/benchmarks.md).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
