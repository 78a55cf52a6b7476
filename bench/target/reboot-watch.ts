import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../../drivers/target/index.ts';
import { bootVersionPatterns } from '../../suites/framework/strategy/boot-lines.ts';
import { BootWatch } from '../../suites/framework/strategy/boot-watch.ts';
import { rebootTimeoutMs } from '../../suites/framework/strategy/observe.ts';
import { BenchUsageError } from './measurer.ts';

/**
 * The line a sketch prints once its OTA service listens again, where the profile's example sketch
 * has one: ArduinoOTA's BasicOTA prints `Ready` after `ArduinoOTA.begin()`, the WebUpdater example
 * `HTTPUpdateServer ready! …` after `httpServer.begin()` (arduino-ota.md §1, §2). Until then an
 * invitation or a form post finds no one listening. A rig names its own with `options.readyPattern`.
 */
const READY_LINES: Partial<Record<Target['profile'], RegExp>> = {
  'arduino-ota': /^Ready\b/,
  'web-update': /HTTPUpdateServer ready/,
};

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

  /**
   * Waits for the boot that names `version` and, where the profile prints one, for the line that
   * says its OTA service answers again; returns when that line arrived (performance.now() clock).
   */
  async booted(version: string): Promise<number> {
    try {
      for (;;) {
        const boot = await this.watch.next({
          timeoutMs: rebootTimeoutMs(this.target),
          step: `reboot into ${version}`,
        });
        if (boot.version === version) return await this.ready(boot.fromLine);
        if (boot.version !== undefined)
          throw new Error(
            `target ${this.target.name}: rebooted into ${boot.version}, not the ${version} it was sent`,
          );
      }
    } finally {
      this.watch.stop();
    }
  }

  private async ready(fromLine: number): Promise<number> {
    const own = this.target.description.options?.readyPattern;
    const pattern =
      typeof own === 'string' && own !== '' ? new RegExp(own) : READY_LINES[this.target.profile];
    if (pattern === undefined) return performance.now();
    const deadline = performance.now() + rebootTimeoutMs(this.target);
    while (performance.now() < deadline) {
      const line = this.target.console
        ?.lines()
        .find(
          (candidate) =>
            candidate.index > fromLine && candidate.source === 'device' && pattern.test(candidate.text),
        );
      if (line !== undefined) return performance.now() - (Date.now() - line.atMs);
      await sleep(5);
    }
    throw new Error(
      `target ${this.target.name}: booted, but never printed ${pattern} (its OTA service did not come back)`,
    );
  }

  stop(): void {
    this.watch.stop();
  }
}
