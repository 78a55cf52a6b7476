import type { Target } from '../../drivers/target/index.ts';
import { buildEsp8266Sketch } from '../../fixtures/esp8266-sketch/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import { cycleOffMs } from './power-off-time.ts';
import { RigFailure } from './rig-failure.ts';
import { otherRigVersion, rigBootableImage } from './strategy/rig-images.ts';

/*
 * What the push profiles whose device is an Arduino sketch (arduino-ota, web-update) share: the
 * images they upload, the versions those carry, and how the device is restarted into a known state.
 */

/** The project name the sketches' descriptors carry. */
const PROJECT = 'ota-conformance';
/** How long a power switch keeps a board off when the rig has no reset line. */
export const RESET_OFF_MS = 200;

/**
 * A build of the platform's image kind carrying `version`: an Arduino sketch (eboot, padding, app
 * with the version descriptor) for an ESP8266, an app image for an ESP32. Small, so each
 * requirement stays fast.
 */
export function sketchImageFor(target: Target, version: string, seed = 1): Uint8Array {
  const fromRig = rigBootableImage(target, version);
  if (fromRig) return fromRig;
  if (target.platform === 'esp32') {
    return buildEsp32Image({ size: 64 * 1024, version, projectName: PROJECT, seed });
  }
  return buildEsp8266Sketch({ version, projectName: PROJECT, appSize: 32 * 1024, seed });
}

let versionCounter = 0;
/**
 * A version no earlier run left on the device (≤ 31 bytes, the descriptor's limit); on a board
 * that boots only the rig's builds, the rig version it is not running (otherRigVersion).
 */
export function freshSketchVersion(label: string, target?: Target): string {
  const rigVersion = target === undefined ? undefined : otherRigVersion(target);
  if (rigVersion !== undefined) return rigVersion;
  versionCounter++;
  return `${label}-${Date.now().toString(36).slice(-6)}${versionCounter}`;
}

/** The target's console; a rig without one cannot run these suites. */
export function requireConsole(target: Target): NonNullable<Target['console']> {
  if (target.console === undefined) throw new RigFailure(`target ${target.name}: no console`);
  return target.console;
}

/** Restarts the device with its reset line, else with a power cycle. */
export async function resetDevice(target: Target): Promise<void> {
  const driver = target.reset;
  if (driver === undefined) throw new RigFailure(`target ${target.name}: no reset or power driver`);
  if ('reset' in driver && typeof driver.reset === 'function') {
    await driver.reset();
    return;
  }
  if ('cycle' in driver) await driver.cycle(cycleOffMs(target, RESET_OFF_MS));
}
