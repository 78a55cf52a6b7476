import { describe, inject, test } from 'vitest';
// Loaded here, at the top level of the file, so the requirement fixture (the target, one per file)
// is declared outside the describes that hold the suite files.
import '../framework/index.ts';
import { RigFailure } from '../framework/index.ts';

/*
 * The one test file a run gives each target: it loads every suite file of the target's profile,
 * in order, each under a describe named by its path. One file per target lets vitest run the
 * target in one worker from start to end — its requirements one after another, as a device takes
 * them — while other targets run in other workers. (With one vitest file per suite file, a worker
 * is only reused for the next file of the same target, so the suite files of fourteen targets
 * paid for a fresh worker and module graph each.)
 *
 * A suite file that does not load loses only its own requirements: it becomes one failing test
 * (a rig error in the report, `meta.suiteLoad`), and the target's other suite files still run.
 */
for (const file of inject('suiteFiles') ?? []) {
  describe(file.relative, async () => {
    try {
      await import(file.absolute);
    } catch (error) {
      const failure = new RigFailure(
        `suite file ${file.relative} does not load: ${(error as Error).message}`,
      );
      test(`${file.relative} loads`, { meta: { suiteLoad: file.relative } }, () => {
        throw failure;
      });
    }
  });
}
