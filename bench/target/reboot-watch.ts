import type { Target } from '../../drivers/target/index.ts';
import { bootVersionPatterns } from '../../suites/framework/strategy/boot-lines.ts';
import { BootWatch } from '../../suites/framework/strategy/boot-watch.ts';
import { rebootTimeoutMs } from '../../suites/framework/strategy/observe.ts';
import { BenchUsageError } from './measurer.ts';

/**
 * Watches the console for the boot that follows an update and tells when the new image announced
 * its version: the "reboot to first answer" phase, and the check that the device runs what it was
 * sent (push profiles that report no digest).
 */
export class RebootWatch {
  private constructor(
    private readonly target: Target,
    private readonly watch: BootWatch,
  ) {}

  static start(target: Target): RebootWatch {
    const console = target.console;
    if (!console || !target.capabilities.has('console'))
      throw new BenchUsageError(
        `target ${target.name}: the bench reads the reboot and the version that then runs from the console, and the rig gives none`,
      );
    return new RebootWatch(target, BootWatch.start(console, bootVersionPatterns(target)));
  }

  /** Waits for the boot that names `version`; returns when it did (performance.now() clock). */
  async booted(version: string): Promise<number> {
    try {
      for (;;) {
        const boot = await this.watch.next({
          timeoutMs: rebootTimeoutMs(this.target),
          step: `reboot into ${version}`,
        });
        if (boot.version === version) return performance.now();
        if (boot.version !== undefined)
          throw new Error(
            `target ${this.target.name}: rebooted into ${boot.version}, not the ${version} it was sent`,
          );
      }
    } finally {
      this.watch.stop();
    }
  }

  stop(): void {
    this.watch.stop();
  }
}
