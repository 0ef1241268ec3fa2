import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// SWC compiles the decorators and their metadata that Nest's dependency injection reads.
const plugins = [swc.vite({ module: { type: 'es6' } })];

export default defineConfig({
  test: {
    projects: [
      {
        plugins,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.spec.ts'],
          environment: 'node',
          sequence: { groupOrder: 0 },
        },
      },
      {
        plugins,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e-spec.ts'],
          exclude: ['test/e2e/image.e2e-spec.ts'],
          environment: 'node',
          // A cluster per file (API server, controllers, hollow nodes); tests isolate themselves by namespace.
          setupFiles: ['test/support/file-cluster.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        plugins,
        test: {
          // The container image, built and run: after the other e2e files, since a first build takes
          // minutes of both cores. Its own cluster, like every e2e file.
          name: 'image',
          include: ['test/e2e/image.e2e-spec.ts'],
          environment: 'node',
          setupFiles: ['test/support/file-cluster.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
