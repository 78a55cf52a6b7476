import { createHash } from 'node:crypto';
import type { Target } from '../../../drivers/target/index.ts';
import { buildEsp8266Sketch } from '../../../fixtures/esp8266-sketch/index.ts';
import { buildEsp32Image } from '../../../fixtures/index.ts';
import { StrategyUnsupportedError } from './errors.ts';
import { otherRigVersion, rigBootableImage } from './rig-images.ts';

/** Project name the strategy's images carry (the ESP-IDF descriptor, the sketch descriptor). */
export const STRATEGY_PROJECT = 'ota-conformance';

/**
 * The secure_version of every image the suites build for a target that claims anti-rollback:
 * the esp-https-ota suites' base, so an eFuse one suite burns never blocks another's images. A
 * board whose eFuse stands higher names its value in `options.secureVersion`.
 */
export const HARNESS_SECURE_VERSION = 2;

/** Small images keep every requirement fast; 64 KiB still spans sixteen 4 KiB sectors. */
const ESP32_IMAGE_SIZE = 64 * 1024;
const ESP8266_APP_SIZE = 32 * 1024;

export interface ImageOptions {
  /** Seeds the filler bytes; default derived from the version, so versions differ in content. */
  seed?: number;
  /** Bytes of the ESP32 image or of the ESP8266 app (benchmarks use larger ones); default 64 / 32 KiB. */
  size?: number;
}

/**
 * On a board with the vendor's builds (rig `firmware`), the rig's image or one derived from it
 * (rig-images.ts); on an emulator, a small valid image for the target's chip that names `version` where the device reports it:
 * an ESP32 app image (its app descriptor, printed as `App version:`), or an ESP8266 Arduino
 * sketch (eboot, padding, the app at 0x1000, the sketch descriptor the test sketch prints).
 */
export function imageFor(target: Target, version: string, options: ImageOptions = {}): Uint8Array {
  const seed = options.seed ?? seedOf(version);
  if (target.platform === 'esp32') {
    const own = target.description.options?.secureVersion;
    const secureVersion =
      typeof own === 'number' ? own : target.capabilities.has('anti-rollback') ? HARNESS_SECURE_VERSION : 0;
    const fromRig = rigBootableImage(target, version, secureVersion === 0 ? {} : { secureVersion });
    if (fromRig) return fromRig;
    return buildEsp32Image({
      size: options.size ?? ESP32_IMAGE_SIZE,
      version,
      projectName: STRATEGY_PROJECT,
      seed,
      secureVersion,
    });
  }
  if (target.platform === 'esp8266') {
    const fromRig = rigBootableImage(target, version);
    if (fromRig) return fromRig;
    return buildEsp8266Sketch({
      version,
      projectName: STRATEGY_PROJECT,
      appSize: options.size ?? ESP8266_APP_SIZE,
      seed,
    });
  }
  throw new StrategyUnsupportedError(
    `target ${target.name}: the rig does not say its platform (esp32 or esp8266), so no image can be built for it`,
  );
}

function seedOf(version: string): number {
  return createHash('sha256').update(version).digest().readUInt32LE(0);
}

const RUN = Date.now().toString(36).slice(-5);
let counter = 0;
/**
 * A version no earlier run left on the device; ≤ 31 bytes (the descriptor's field). On a board
 * that boots only the rig's builds, the rig version it is not running (otherRigVersion).
 */
export function freshVersion(label: string, target?: Target): string {
  const rigVersion = target === undefined ? undefined : otherRigVersion(target);
  if (rigVersion !== undefined) return rigVersion;
  counter += 1;
  return `${label}-${RUN}${counter}`.slice(0, 31);
}
