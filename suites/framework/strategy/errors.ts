import { RigFailure } from '../rig-failure.ts';

/**
 * The strategy cannot walk this target into the state a requirement needs (no driver for its
 * profile yet, no console to read the boot from, no power switch): the rig's gap, never the
 * device's failure, so the requirement ends as a rig error instead of passing unseen.
 */
export class StrategyUnsupportedError extends RigFailure {
  /** Finer than RigFailure's code, for reports that group rig errors. */
  readonly reason = 'STRATEGY_UNSUPPORTED';
}
