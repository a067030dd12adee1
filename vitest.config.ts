import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Interop tests spawn GStreamer/ffmpeg; two workers match the 2-core machines we run on.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
