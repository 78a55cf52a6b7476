import type { Target } from '../../drivers/target/index.ts';
import { freshVersion, imageFor } from '../../suites/framework/strategy/image-for.ts';
import { rigVersions } from '../../suites/framework/strategy/rig-images.ts';
import { BenchUsageError } from './measurer.ts';

/**
 * The images a bench sends one target, a different version each run so that every run is a real
 * update the device can tell from the last (DESIGN.md, "what a board may be sent"):
 * - an emulator: a synthetic image of the asked size with a fresh version;
 * - an ESP32 board: the rig's update build with a fresh version written into its app descriptor
 *   and resealed (the code untouched), through the strategy's images by role;
 * - an ESP8266 board: the rig's own update and baseline builds in turn (only they boot);
 * - a board whose rig names no builds is not benched: synthetic images are for emulators only.
 */
export class BenchImages {
  private readonly versions = new Map<Uint8Array, string>();
  private readonly alternate: string[] | undefined;
  private sent = 0;

  constructor(
    private readonly target: Target,
    private readonly bytes: number,
  ) {
    if (target.description.kind === 'emulator' || target.description.kind === 'emulator-process') return;
    const versions = rigVersions(target);
    if (versions === undefined)
      throw new BenchUsageError(
        `target ${target.name}: a board is only sent images it can boot, and its rig names no firmware builds (firmware.baseline / firmware.update)`,
      );
    if (target.platform !== 'esp32') {
      if (
        versions.update === undefined ||
        versions.baseline === undefined ||
        versions.update === versions.baseline
      )
        throw new BenchUsageError(
          `target ${target.name}: an ESP8266 boots only the rig's own builds, and the bench needs their two versions to tell one run from the next (the rig gives update ${versions.update ?? '?'}, baseline ${versions.baseline ?? '?'})`,
        );
      // The board was brought to its baseline (prepare: flash), so the update goes first.
      this.alternate = [versions.update, versions.baseline];
    }
  }

  next(): Uint8Array {
    const version = this.alternate?.[this.sent % this.alternate.length] ?? freshVersion('bench');
    this.sent++;
    const image = imageFor(this.target, version, { size: this.bytes });
    this.versions.set(image, version);
    return image;
  }

  /** The version an image from next() carries (what the device must then report). */
  readonly versionOf = (image: Uint8Array): string => {
    const version = this.versions.get(image);
    if (version === undefined) throw new Error('bench: an image the bench did not build');
    return version;
  };

  forget(image: Uint8Array): void {
    this.versions.delete(image);
  }
}
