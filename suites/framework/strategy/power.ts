import type { Target } from '../../../drivers/target/index.ts';
import { cycleOffMs } from '../power-off-time.ts';
import { bootVersionPatterns } from './boot-lines.ts';
import { BootWatch, type SeenBoot } from './boot-watch.ts';
import { StrategyUnsupportedError } from './errors.ts';
import { rebootTimeoutMs, requireConsole } from './observe.ts';

function requirePower(target: Target, why: string) {
  if (!target.power || !target.capabilities.has('power-cycle')) {
    throw new StrategyUnsupportedError(`target ${target.name}: ${why} needs a power switch the rig can use`);
  }
  return target.power;
}

/** Arms a cut after `bytes` programmed flash bytes; only rigs with a byte-exact cut can. */
export async function armPowerCut(target: Target, bytes: number): Promise<void> {
  const power = target.power;
  if (!power?.cutAfterBytes || !target.capabilities.has('power-cut-at-byte')) {
    throw new StrategyUnsupportedError(
      `target ${target.name}: the rig cannot cut power after a number of flash bytes ('power-cut-at-byte')`,
    );
  }
  target.transcript.record('arm power cut', 'event', `power cut after ${bytes} programmed bytes`);
  await power.cutAfterBytes(bytes);
}

/** Power off, a short pause, power on; returns the boot that followed. */
export async function powerCycle(target: Target, step = 'power cycle'): Promise<SeenBoot> {
  const power = requirePower(target, step);
  const watch = BootWatch.start(requireConsole(target, step), bootVersionPatterns(target));
  try {
    target.transcript.record(step, 'event', 'power cycle');
    await power.cycle(cycleOffMs(target));
    return await watch.next({ timeoutMs: rebootTimeoutMs(target), step, accept: (boot) => !boot.software });
  } finally {
    watch.stop();
  }
}

/** What powering on after an armed cut showed. */
export type AfterCut =
  /** `boot.version` is undefined when the boot began but never named its app. */
  | { dark: true; boot: SeenBoot }
  /** The device never lost power (the cut did not fire); it was power-cycled to disarm the cut. */
  | { dark: false; boot: SeenBoot | undefined; detail: string };

/**
 * Powers the target on after an armed cut and returns the boot that followed. A device that was
 * dark boots on power-on (a reset that is not its own software restart); one that never went dark
 * shows no such boot, and is then power-cycled so the armed cut cannot hit a later requirement.
 */
export async function powerOnAfterCut(target: Target, step = 'power on after the cut'): Promise<AfterCut> {
  const power = requirePower(target, step);
  const watch = BootWatch.start(requireConsole(target, step), bootVersionPatterns(target));
  try {
    target.transcript.record(step, 'event', 'power on');
    await power.on();
    const poweredOn = (boot: SeenBoot) => !boot.software;
    try {
      const boot = await watch.next({ timeoutMs: rebootTimeoutMs(target), step, accept: poweredOn });
      return { dark: true, boot };
    } catch {
      // A boot that began but never named its app: dark it was, and it runs nothing.
      const started = watch.boots.find(poweredOn);
      if (started) return { dark: true, boot: started };
      const detail = `no power-on boot after switching the power on (${watch.describe()})`;
      const boot = await powerCycle(target, `${step}: power-cycle to disarm the cut`).catch(() => undefined);
      return { dark: false, boot, detail };
    }
  } finally {
    watch.stop();
  }
}
