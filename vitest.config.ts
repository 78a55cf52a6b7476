import { defineConfig } from 'vitest/config';

// Two projects: `unit` tests this project's own code (`*.test.ts` beside the code);
// `conformance` runs the suites against a target (wired to rigs by the run command).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{bench,bin,drivers,emulators,fixtures,fuzz,rigs,reports,suites,vocabulary}/**/*.test.ts',
          ],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          // Many tests drive real sockets, PTYs and child processes on 2 cores: a test is failed
          // when it fails twice, so a scheduling hiccup under load does not fail CI on its own.
          retry: 1,
          // One TMPDIR for the run, removed at its end: nothing a test makes under tmpdir() outlives it.
          globalSetup: ['./vitest.tmpdir.ts'],
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
