import type { Target } from '../../drivers/target/index.ts';
import { freshVersion, imageFor } from '../../suites/framework/strategy/image-for.ts';
import { BenchUsageError } from './measurer.ts';

/**
 * The images a bench sends one target: a fresh version for every run, so each run is a real
 * update the device can tell from the last. Synthetic images are for emulators only (DESIGN.md,
 * "what a board may be sent"): a board target is refused until the rig names its own builds.
 */
export class BenchImages {
  private readonly versions = new Map<Uint8Array, string>();

  constructor(
    private readonly target: Target,
    private readonly bytes: number,
  ) {
    if (target.description.kind !== 'emulator')
      throw new BenchUsageError(
        `target ${target.name}: a ${target.description.kind} is only sent images it can boot, and the bench has only synthetic ones for emulators; bench it through an emulator target, or give the rig its firmware builds`,
      );
  }

  next(): Uint8Array {
    const version = freshVersion('bench');
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
