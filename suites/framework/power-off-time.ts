import type { Target } from '../../drivers/target/index.ts';

/** An emulator has no capacitor to drain: it is off the moment the control plane says so. */
const EMULATOR_OFF_MS = 20;

/**
 * How long a power cycle keeps the target off. The rig's `power.offTimeMs` wins: it is what this
 * board's supply needs to drain (a suite cannot know). Without it, briefly for an emulator the run
 * started, else `boardMs` (or the power driver's own default when the suite names none).
 */
export function cycleOffMs(target: Target, boardMs?: number): number | undefined {
  const rigOffMs = (target.description.power as { offTimeMs?: number } | undefined)?.offTimeMs;
  if (rigOffMs !== undefined) return rigOffMs;
  const kind = target.description.kind;
  return kind === 'emulator' || kind === 'emulator-process' ? EMULATOR_OFF_MS : boardMs;
}
