import { defineConfig } from 'vitest/config';

// Two projects: `unit` tests this project's own code (`*.test.ts` beside the code);
// `conformance` runs the suites against a target (wired to rigs by the run command).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{bin,drivers,emulators,fixtures,rigs,reports,suites}/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'conformance',
          include: ['suites/**/*.suite.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
