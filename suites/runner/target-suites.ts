import { describe, test } from 'vitest';
import { RigFailure, selectTarget } from '../framework/index.ts';

/*
 * What a run's entry file for one target does (run-conformance writes one per target, each a
 * two-line file naming its target): load every suite file of the target's profile, in order, each
 * under a describe named by its path. One test file per target lets vitest run the target in one
 * worker from start to end — its requirements one after another, as a device takes them — while
 * the other targets run in other workers, all in one vitest project (one Vite server transforms
 * each module once for every target).
 *
 * A suite file that does not load loses only its own requirements: it becomes one failing test
 * (a rig error in the report, `meta.suiteLoad`), and the target's other suite files still run.
 */
export function loadTargetSuites(targetName: string): void {
  const { suiteFiles } = selectTarget(targetName);
  for (const file of suiteFiles) {
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
}
