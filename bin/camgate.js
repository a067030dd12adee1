#!/usr/bin/env node
// camgate is written in TypeScript; tsx compiles it on load, so `npx camgate` needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
