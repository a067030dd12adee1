import { defineConfig } from 'vitest/config';

/**
 * Suites that drive headless Chromium. Each one keeps a browser decoding several streams, which
 * takes most of a 2-core machine: they run one file at a time, after everything else, so a browser
 * test never misses frames because another browser test is decoding next to it.
 */
const BROWSER_SUITES = [
  'test/interop/hls.test.ts',
  'test/interop/hls-latency.test.ts',
  'test/interop/wall.test.ts',
  'test/interop/whep-browser.test.ts',
  'test/interop/whep-transcode.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Interop tests spawn GStreamer/ffmpeg; two workers match the 2-core machines we run on.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['test/**/*.test.ts'], exclude: BROWSER_SUITES, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'browser', include: BROWSER_SUITES, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
