import type { Target } from '../../../drivers/target/index.ts';
import { StrategyUnsupportedError } from './errors.ts';

/** How long a reboot may take until the app names itself on the console. */
export function rebootTimeoutMs(target: Target): number {
  return target.description.limits?.rebootTimeoutMs ?? Math.max(10_000, target.stepTimeoutMs * 2);
}

/**
 * How long "no reboot" is watched for after a refused update (or after the device printed that its
 * update failed). A device that restarts after a failure does so within its restart delay (the
 * ESP-IDF advanced example waits 1 s before esp_restart()): a rig says how long its board takes in
 * `limits.rebootTimeoutMs`; where the target's options give the firmware's own restart delay
 * (`options.restartDelayMs`: what an emulator reports of its firmware, or a rig's word on its
 * board), the window is that delay and a margin for a loaded machine; otherwise 600 ms.
 */
export function noRebootWindowMs(target: Target): number {
  const limit = target.description.limits?.rebootTimeoutMs;
  const restartDelay = knownRestartDelayMs(target);
  const window =
    limit ?? (restartDelay === undefined ? DEFAULT_NO_REBOOT_WINDOW_MS : restartDelay + RESTART_MARGIN_MS);
  return Math.min(window, 3_000);
}

/**
 * How long the firmware waits before it restarts, where the target's options say
 * (`options.restartDelayMs`: what an emulator reports of its firmware, or a rig's word on its
 * board); undefined otherwise.
 */
export function knownRestartDelayMs(target: Target): number | undefined {
  const delay = target.description.options?.restartDelayMs;
  return typeof delay === 'number' && delay >= 0 ? delay : undefined;
}

const DEFAULT_NO_REBOOT_WINDOW_MS = 600;
/**
 * Beyond a known restart delay: the failure line and the boot banner that would follow it cross
 * the same console one after the other, so only the difference in their delays needs a margin
 * (the kill matrix runs twenty devices at once on two cores and still sees every restart after a
 * failure, in each of the requirements that look for one).
 */
const RESTART_MARGIN_MS = 150;

/** The console, which the strategy reads boots from; without one it cannot tell what runs. */
export function requireConsole(target: Target, why: string) {
  if (!target.console || !target.capabilities.has('console')) {
    throw new StrategyUnsupportedError(
      `target ${target.name}: ${why}: the strategy reads boots from the console and the rig gives none`,
    );
  }
  return target.console;
}

/** The last device lines on the console, for a failure message. */
export function consoleTail(target: Target, from: number, count = 6): string {
  const lines = (target.console?.lines() ?? []).slice(from).filter((line) => line.source === 'device');
  return lines
    .slice(-count)
    .map((line) => line.text)
    .join(' | ');
}
