import type { Target } from '../../drivers/target/index.ts';

/** An emulator has no capacitor to drain: it is off the moment the control plane says so. */
const EMULATOR_OFF_MS = 20;

/**
 * How long a power cycle keeps the target off: briefly for an emulator, else `boardMs` (or the
 * power driver's own default when the suite names none) so a board's supply really drains.
 */
export function cycleOffMs(target: Target, boardMs?: number): number | undefined {
  return target.description.kind === 'emulator' ? EMULATOR_OFF_MS : boardMs;
}
