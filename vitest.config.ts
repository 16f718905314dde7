import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores here: interop tests spawn Hercules tools and piscina workers of their own.
    maxWorkers: 2,
  },
});
