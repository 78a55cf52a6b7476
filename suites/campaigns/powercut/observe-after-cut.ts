import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../../../drivers/target/index.ts';
import { BootWatch, bootVersionPatterns, rebootTimeoutMs } from '../../framework/strategy/index.ts';
import { classifyBoots } from './classify.ts';
import type { Outcome } from './cut-point.ts';

/** Console lines kept with each cut. */
const KEPT_LINES = 80;
/** After a halted boot: the quiet time that lets its last lines arrive over the console link. */
const HALTED_SETTLE_MS = 100;

export interface Observed {
  outcome: Outcome;
  evidence: string;
  console: string[];
}

/**
 * Powers the target on after a cut and watches until it settles: the first boot that names an
 * app (or none within the reboot timeout: no boot), then until the console has been quiet for
 * `settleMs` (a rollback restart or a reset loop shows in that time), then classifies.
 */
export async function powerOnAndObserve(
  target: Target,
  options: {
    versions: { old: string; new: string };
    /** Console line index where this cut's update began: boots from there to power-on came before the cut. */
    consoleFrom: number;
    settleMs: number;
    /** The rig saw the chip restart into the update before the cut (see classifyBoots). */
    restarted?: boolean;
    /**
     * Where the rig can see inside the chip (an emulator's control plane): true once the boot after
     * power-on has found nothing to run and given up — no app can start before the next power
     * cycle, so the watch ends there instead of at the reboot timeout.
     */
    halted?: () => Promise<boolean>;
  },
): Promise<Observed> {
  const console = target.console!;
  const before = BootWatch.start(console, bootVersionPatterns(target), options.consoleFrom);
  before.stop();
  const watch = BootWatch.start(console, bootVersionPatterns(target));
  try {
    await target.power!.on();
    const limit = rebootTimeoutMs(target);
    // A halted chip prints nothing more: only the lines already on their way are waited for.
    const halted = (await options.halted?.()) === true;
    if (!halted)
      await watch.next({ timeoutMs: limit, step: 'power on after the cut' }).catch(() => undefined);
    const settleMs = halted ? Math.min(options.settleMs, HALTED_SETTLE_MS) : options.settleMs;
    const deadline = performance.now() + limit;
    let seen = console.lines().length;
    let quietSince = performance.now();
    while (performance.now() < deadline && performance.now() - quietSince < settleMs) {
      await sleep(Math.min(50, settleMs));
      const now = console.lines().length;
      if (now !== seen) {
        seen = now;
        quietSince = performance.now();
      }
    }
    return classified(watch, before, options, console);
  } finally {
    watch.stop();
  }
}

function classified(
  watch: BootWatch,
  before: BootWatch,
  options: { versions: { old: string; new: string }; consoleFrom: number; restarted?: boolean },
  console: NonNullable<Target['console']>,
): Observed {
  const { outcome, evidence } = classifyBoots(watch.boots, before.boots, options.versions, options.restarted);
  const lines = console
    .lines()
    .slice(options.consoleFrom)
    .filter((line) => line.source === 'device')
    .map((line) => line.text);
  return { outcome, evidence, console: lines.slice(-KEPT_LINES) };
}
