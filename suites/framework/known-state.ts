import type { Target } from '../../drivers/target/index.ts';
import { cycleOffMs } from './power-off-time.ts';
import { RESET_OFF_MS } from './sketch-device.ts';
import { bootVersionPatterns } from './strategy/boot-lines.ts';
import { BootWatch } from './strategy/boot-watch.ts';
import { rebootTimeoutMs } from './strategy/observe.ts';

/**
 * Walks a target back to a known state after a requirement that failed, hit a rig error or was
 * given up on at its timeout: whatever it left the device in (an update half-received, a session
 * open, a 60 s stream wait still running) must not decide the next requirement. The device is
 * power-cycled where the rig can, else reset; with a console the restart is awaited until the
 * app names itself (or at least a boot begins). Returns what was done, for the transcript;
 * undefined when the rig can do neither (the next requirement then starts as it finds the device).
 */
export async function restartToKnownState(target: Target): Promise<string | undefined> {
  const power = target.power && target.capabilities.has('power-cycle') ? target.power : undefined;
  const reset = target.reset && target.capabilities.has('reset') ? target.reset : undefined;
  if (power === undefined && reset === undefined) return undefined;
  const console = target.console && target.capabilities.has('console') ? target.console : undefined;
  const watch = console ? BootWatch.start(console, bootVersionPatterns(target)) : undefined;
  try {
    let how: string;
    if (power) {
      await power.cycle(cycleOffMs(target, RESET_OFF_MS));
      how = 'power cycle';
    } else if (reset && 'reset' in reset && typeof reset.reset === 'function') {
      await reset.reset();
      how = 'reset';
    } else {
      await (reset as { cycle(offMs?: number): Promise<void> }).cycle(cycleOffMs(target, RESET_OFF_MS));
      how = 'power cycle';
    }
    if (!watch) return how;
    const timeoutMs = rebootTimeoutMs(target);
    const named = await watch
      .next({ timeoutMs, step: 'known state', accept: (boot) => !boot.software || how === 'reset' })
      .then(
        (boot) => `${how}; booted ${boot.version}`,
        () => undefined,
      );
    if (named) return named;
    // A profile whose boot names no app version: a boot that began is enough.
    return (await watch.whenBooting(0))
      ? `${how}; a boot began`
      : `${how}; no boot seen within ${timeoutMs} ms`;
  } finally {
    watch?.stop();
  }
}
