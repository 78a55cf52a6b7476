import { afterAll, beforeAll, describe, test } from 'vitest';
import { RigFailure, releaseTarget, selectTarget } from '../framework/index.ts';
import { collectingTarget } from '../framework/target-context.ts';
import { targetDescribeName } from './target-describe.ts';

/*
 * What a run's entry file does (run-conformance writes a few, each a two-line file naming its
 * targets): for each target, one describe that loads every suite file of the target's profile, in
 * order, each under a describe named by its path. The targets of one entry file run side by side
 * (their describes are concurrent), each target's requirements one after another, as a device
 * takes them; every requirement runs in its target's async context (framework/target-context.ts),
 * so what one target's requirement opens, sends or remembers is never another's. A few workers
 * each running several targets cost far less than a worker per target: every worker loads the
 * whole harness once (the suites wait on devices far more than they compute).
 *
 * A suite file that does not load loses only its own requirements: it becomes one failing test
 * (a rig error in the report, `meta.suiteLoad`), and the target's other suite files still run.
 */
export function loadTargetSuites(targetNames: readonly string[]): void {
  for (const targetName of targetNames) {
    describe(targetDescribeName(targetName), { concurrent: targetNames.length > 1 }, () => {
      const { suiteFiles, description } = selectTarget(targetName);
      // Collection is over once anything runs: from then on only a requirement's own context
      // (framework/target-context.ts) names its target, so code that lost it finds none rather
      // than the target collected last.
      beforeAll(() => collectingTarget(undefined));
      afterAll(() => releaseTarget(targetName));
      // The MQTT client loads here, while nothing runs yet, rather than inside the first MQTT
      // requirement, where loading it would stall every target of the worker for a moment.
      if (description.mqtt) {
        describe('drivers', async () => {
          await import('../../drivers/mqtt/index.ts');
        });
      }
      for (const file of suiteFiles) {
        describe(file.relative, { sequential: true }, async () => {
          selectTarget(targetName);
          try {
            // One module instance per target: a suite file's own state (a prepared campaign, a
            // cached image) belongs to the target it was loaded for.
            await import(`${file.absolute}?target=${encodeURIComponent(targetName)}`);
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
    });
  }
}
