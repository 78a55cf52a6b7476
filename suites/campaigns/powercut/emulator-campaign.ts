import { setTimeout as sleep } from 'node:timers/promises';
import { EmulatorControlPower, type EmulatorFlashTrace } from '../../../drivers/power/index.ts';
import type { Target } from '../../../drivers/target/index.ts';
import { cycleOffMs } from '../../framework/power-off-time.ts';
import {
  BootWatch,
  bootVersionPatterns,
  confirmRunningImage,
  describeBoot,
  HARNESS_SECURE_VERSION,
  imageFor,
  knownRestartDelayMs,
  rebootTimeoutMs,
  updateTarget,
} from '../../framework/strategy/index.ts';
import { bisectBoundaries } from './bisect.ts';
import { type CampaignOptions, type CampaignResult, campaignResult } from './campaign-result.ts';
import { type CutResult, cutStopwatch, type Phase, tornSeedFor } from './cut-point.ts';
import { powerOnAndObserve } from './observe-after-cut.ts';
import { type PhasedOperation, phaseOperations } from './phases.ts';
import { rigStep } from './rig-step.ts';
import { byteSweepPoints, sweepPoints } from './sweep-points.ts';
import { cutPosition } from './windows.ts';

/**
 * esp_ota_begin's refusal while the running app is PENDING_VERIFY (esp-idf.md §3.5, esp_ota_ops.c
 * L178-186: `Running app has not confirmed state (ESP_OTA_IMG_PENDING_VERIFY)`).
 */
const UNCONFIRMED_REFUSAL = /has not confirmed state|ESP_ERR_OTA_ROLLBACK_INVALID_STATE/;

/** Beyond every trace index: asks the control plane for the count only. */
const COUNT_ONLY = Number.MAX_SAFE_INTEGER;
/** The reference update is over once the flash has been still this long after the new image booted. */
const FLASH_QUIET_MS = 250;

/** The three images of a campaign, named from its seed so a replay builds the very same bytes. */
export function campaignVersions(seed: number): { first: string; old: string; new: string } {
  return { first: `pc${seed}-a`, old: `pc${seed}-b`, new: `pc${seed}-n` };
}

export interface PreparedCampaign {
  saved: number;
  reference: PhasedOperation[];
  versions: ReturnType<typeof campaignVersions>;
  /** The known state's image must be confirmed after each power-on (see bootSaved). */
  confirmEachBoot?: boolean;
}

/**
 * A campaign that cannot go on. `device`: the device failed without any cut (its uncut reference
 * update does not take); otherwise the rig or the arguments cannot make the campaign.
 */
/** An uncut update to one of the campaign's images, confirmed where rollback is claimed. */
export async function installForKnownState(target: Target, version: string): Promise<void> {
  const result = await updateTarget(target, imageFor(target, version));
  if (!result.accepted || result.booted?.version !== version)
    throw new CampaignError(
      `target ${target.name}: installing ${version} for the known state failed: ${result.detail}`,
      true,
    );
  if (target.capabilities.has('rollback')) await confirmRunningImage(target).catch(() => undefined);
}

export class CampaignError extends Error {
  readonly code = 'POWERCUT_CAMPAIGN';
  constructor(
    message: string,
    readonly device = false,
  ) {
    super(message);
  }
}

/**
 * A power-cut campaign on an emulator, through its control plane (the rig's `emulator-control`
 * power): a known state saved once (the device updated twice, so both boot-selection entries are
 * in use, as on a device in the field), one uncut reference update whose numbered flash
 * operations give each cut point its phase, then one cut per point — each from the saved state, at
 * an exact flash operation, with torn bits drawn from the campaign seed and the point — and
 * optionally bisection of every change of outcome down to adjacent operations.
 */
export class EmulatorCampaign {
  private readonly control: EmulatorControlPower;
  private versions: ReturnType<typeof campaignVersions>;
  private newImage: Uint8Array;
  private saved: number | undefined;
  private reference: PhasedOperation[] = [];
  /** The control plane's view: the chip's boot found nothing to run (see powerOnAndObserve). */
  private readonly halted = async () => (await this.control.chipState()) === 'halted';
  /** Whether the saved state's image needs confirming after each power-on (see bootSaved). */
  private confirmEachBoot = false;

  /**
   * `prepared`: the known state and reference of an earlier instance on the same emulator (another
   * requirement's), so a second sweep cuts from them without preparing again.
   */
  constructor(
    private readonly target: Target,
    private readonly options: CampaignOptions,
    prepared?: PreparedCampaign,
  ) {
    if (!(target.power instanceof EmulatorControlPower))
      throw new CampaignError(
        `target ${target.name}: cutting at an exact flash operation needs an emulator's control plane (power type emulator-control); a board is cut through its power driver at a byte count (--by acknowledged)`,
      );
    if (!target.console)
      throw new CampaignError(
        `target ${target.name}: the campaign reads boots from the console and the rig gives none`,
      );
    this.control = target.power;
    this.versions = prepared?.versions ?? campaignVersions(options.seed);
    this.newImage = imageFor(target, this.versions.new);
    this.saved = prepared?.saved;
    this.confirmEachBoot = prepared?.confirmEachBoot === true;
    this.reference = prepared?.reference ?? [];
  }

  /** What a later instance needs to cut from the same known state (see the constructor). */
  get prepared(): PreparedCampaign | undefined {
    if (this.saved === undefined) return undefined;
    return {
      saved: this.saved,
      reference: this.reference,
      versions: this.versions,
      ...(this.confirmEachBoot ? { confirmEachBoot: true } : {}),
    };
  }

  /** Known state and reference update; returns the phased operations of the update. */
  async prepare(): Promise<PhasedOperation[]> {
    const { target } = this;
    // An emulator has no supply to drain: the suites' off time (20 ms, or the rig's power.offTimeMs).
    // The secure_version the boot prints is read only where anti-rollback makes it matter.
    const running = await rigStep(this.target, 'power cycle to a known state', () =>
      this.waitForBoot(
        () => this.control.cycle(cycleOffMs(target)),
        target.capabilities.has('anti-rollback'),
      ),
    );
    if (this.options.baseline === 'as-is' && !this.secureVersionDiffers(running.secureVersion)) {
      const fresh = running.version === this.versions.new ? `${this.versions.new}2` : this.versions.new;
      this.versions = { ...this.versions, old: running.version, new: fresh };
      this.newImage = imageFor(target, fresh);
    } else if (this.options.baseline === 'as-is') {
      // Confirming the new image would burn the anti-rollback eFuse past the running image's
      // secure_version, and eFuses are not part of a saved state (nor of a board's reflash): the
      // known state becomes one of the campaign's own images instead.
      await this.install(this.versions.old);
    } else {
      for (const version of [this.versions.first, this.versions.old]) await this.install(version);
    }
    await this.control.off();
    this.saved = await this.control.saveState();
    await this.bootSaved();
    let mark = (await this.control.flashTrace(COUNT_ONLY)).count;
    let result = await updateTarget(target, this.newImage);
    if (!result.accepted && UNCONFIRMED_REFUSAL.test(result.detail) && target.capabilities.has('rollback')) {
      // Its confirmation did not stick (see bootSaved): from now on each restore confirms again.
      this.confirmEachBoot = true;
      await this.bootSaved();
      mark = (await this.control.flashTrace(COUNT_ONLY)).count;
      result = await updateTarget(target, this.newImage);
    }
    if (!result.accepted || result.booted?.version !== this.versions.new)
      throw new CampaignError(
        `target ${target.name}: the reference update (no cut) does not take: ${result.detail}; ${result.boots.map(describeBoot).join('; ')}`,
        true,
      );
    // The update ends with the new image confirmed, as every requirement's positive control does.
    if (target.capabilities.has('rollback')) await confirmRunningImage(target).catch(() => undefined);
    const trace = await this.quietTrace(mark);
    const otadata = trace.regions.find((region) => region.name === 'otadata');
    this.reference = phaseOperations(trace, mark, {
      platform: target.platform === 'esp8266' ? 'esp8266' : 'esp32',
      ...(otadata ? { otadata } : {}),
    });
    return this.reference;
  }

  /** The reference update's operations with their phases (known once prepared). */
  get operations(): readonly PhasedOperation[] {
    return this.reference;
  }

  /** The size of the campaign's new image: the range of a transfer cut. */
  get imageBytes(): number {
    return this.newImage.length;
  }

  /** The old and new image of the campaign (known once prepared). */
  get images(): { old: string; new: string } {
    return { old: this.versions.old, new: this.versions.new };
  }

  /**
   * The sweep (and bisection) over the chosen phases: flash operations of the reference update, or
   * with `transfer` (swept alone) image bytes received by the emulator's network side (the control
   * plane's `received` cut) spread over the whole image; each cut from the saved state.
   */
  async run(): Promise<CampaignResult> {
    const started = performance.now();
    const { phases } = this.options;
    const transfer = phases.includes('transfer');
    if (transfer && phases.length > 1)
      throw new CampaignError(
        `target ${this.target.name}: --phase transfer is swept alone (its cuts are counted in image bytes received, the other phases' in flash operations)`,
      );
    const operations = await this.prepare();
    const { points: count, seed } = this.options;
    const points = transfer
      ? byteSweepPoints(this.newImage.length, count, seed)
      : sweepPoints(operations, phases, count, seed);
    const cut = (point: number, bisected = false) =>
      transfer ? this.cutAtReceived(point, bisected) : this.cutAt(point, bisected);
    const cuts: CutResult[] = [];
    for (const point of points) {
      cuts.push(await cut(point));
      const where = transfer ? `received ${point}` : `op ${point}`;
      this.options.log?.(`cut ${cuts.length}/${points.length}: ${where} → ${cuts.at(-1)!.outcome}`);
    }
    if (this.options.bisect) cuts.push(...(await bisectBoundaries(cuts, (point) => cut(point, true))));
    cuts.sort((a, b) => cutPosition(a) - cutPosition(b));
    await this.restoreKnownState();
    return campaignResult(this.target, {
      method: 'control-plane',
      seed,
      phases,
      versions: { old: this.versions.old, new: this.versions.new },
      reference: operations,
      cuts,
      startedAt: started,
    });
  }

  /**
   * One cut in the transfer: the saved state, the power armed to go as the `bytes`-th image byte
   * reaches the emulated firmware from the network, the update, power on, the verdict.
   */
  async cutAtReceived(bytes: number, bisected = false): Promise<CutResult> {
    const { target } = this;
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > this.newImage.length)
      throw new CampaignError(
        `target ${target.name}: a transfer cut needs a byte count from 1 to the image's ${this.newImage.length}, got ${bytes}`,
      );
    const clock = cutStopwatch();
    await this.bootSaved();
    clock.lap('restore');
    const mark = (await this.control.flashTrace(COUNT_ONLY)).count;
    const consoleFrom = target.console!.lines().length;
    await this.control.cutAfterReceived(bytes);
    const power = this.powerGone();
    const attempt = await updateTarget(target, this.newImage, { armedCut: true, dark: power.gone }).finally(
      power.stop,
    );
    const fired = await this.waitReceivedCut(mark);
    if (!fired) await this.control.off();
    clock.lap('cut');
    const observed = await powerOnAndObserve(target, {
      versions: this.versions,
      consoleFrom,
      settleMs: this.options.settleMs,
      halted: this.halted,
    });
    clock.lap('observe');
    const last = fired?.lastOperation;
    const lastDone = last ? `, the last a ${last.kind} at 0x${last.offset.toString(16)}` : '';
    return {
      seed: this.options.seed,
      point: {
        phase: 'transfer',
        requestedBytes: bytes,
        ...(fired ? { wireBytes: bytes, wireCount: 'received' as const } : {}),
      },
      outcome: observed.outcome,
      evidence: fired
        ? `power went at ${bytes} image bytes received (${fired.taken} handed to the update code, ${fired.operations} flash operations done${lastDone}); ${observed.evidence}`
        : `the cut never fired (${attempt.detail}); ${observed.evidence}`,
      console: observed.console,
      ...(bisected ? { bisected } : {}),
      timingsMs: clock.timings,
    };
  }

  /** Waits for the armed transfer cut (its trace marker); undefined when it never fired. */
  private async waitReceivedCut(
    mark: number,
  ): Promise<
    | { taken: number; operations: number; lastOperation?: EmulatorFlashTrace['operations'][number] }
    | undefined
  > {
    const deadline = performance.now() + rebootTimeoutMs(this.target);
    for (;;) {
      const trace = await this.control.flashTrace(mark);
      // Only what followed this cut's own power-on: an earlier cut's marker can share the index.
      const marker = afterLastPowerOn(trace.markers).find(
        (candidate) => candidate.kind === 'power-off' && candidate.detail.startsWith('received '),
      );
      if (marker) {
        const done = trace.operations.filter((operation) => operation.index < marker.at);
        return {
          taken: Number(/(\d+) taken/.exec(marker.detail)?.[1] ?? Number.NaN),
          operations: done.length,
          ...(done.length > 0 ? { lastOperation: done.at(-1)! } : {}),
        };
      }
      if (performance.now() > deadline) return undefined;
      await sleep(20);
    }
  }

  /** One cut: the saved state, a cut armed at `operation`, the update, power on, the verdict. */
  async cutAt(operation: number, bisected = false): Promise<CutResult> {
    const { target } = this;
    const phased = this.reference.find((candidate) => candidate.operation === operation);
    if (!phased)
      throw new CampaignError(
        `target ${target.name}: operation ${operation} is not part of the reference update (0..${this.reference.length - 1})`,
      );
    const clock = cutStopwatch();
    await this.bootSaved();
    clock.lap('restore');
    const mark = (await this.control.flashTrace(COUNT_ONLY)).count;
    const tornSeed = tornSeedFor(this.options.seed, operation);
    const consoleFrom = target.console!.lines().length;
    await this.control.cutAfterOperations(operation, tornSeed);
    const power = this.powerGone();
    const attempt = await updateTarget(target, this.newImage, { armedCut: true, dark: power.gone }).finally(
      power.stop,
    );
    if (target.capabilities.has('rollback')) await this.confirmUnlessDark(consoleFrom);
    const torn = await this.waitDark(mark);
    if (!torn) await this.control.off();
    // Only what followed the power-on this cut started from (see phaseOperations).
    const markers = afterLastPowerOn((await this.control.flashTrace(mark)).markers);
    const restarted =
      torn !== undefined &&
      markers.some(
        (marker) => marker.kind === 'boot' && marker.detail === 'software' && marker.at <= torn.index,
      );
    clock.lap('cut');
    const observed = await powerOnAndObserve(target, {
      versions: this.versions,
      consoleFrom,
      restarted,
      settleMs: this.options.settleMs,
      halted: this.halted,
    });
    clock.lap('observe');
    return {
      seed: this.options.seed,
      tornSeed,
      point: {
        phase: phased.phase,
        operation,
        kind: torn?.kind ?? phased.kind,
        address: torn?.offset ?? phased.address,
        length: torn?.length ?? phased.length,
        ...(attempt.wireBytes === undefined
          ? {}
          : { wireBytes: attempt.wireBytes, wireCount: wireCountOf(target) }),
      },
      outcome: observed.outcome,
      evidence: torn ? observed.evidence : `the cut never fired (${attempt.detail}); ${observed.evidence}`,
      console: observed.console,
      ...(bisected ? { bisected } : {}),
      timingsMs: clock.timings,
    };
  }

  /**
   * The same update as the reference: where rollback is claimed, the harness confirms the new
   * image once it booted — unless the armed cut has already taken the power.
   */
  private async confirmUnlessDark(consoleFrom: number): Promise<void> {
    const watch = BootWatch.start(this.target.console!, bootVersionPatterns(this.target), consoleFrom);
    try {
      const deadline = performance.now() + rebootTimeoutMs(this.target);
      while (performance.now() < deadline) {
        if (!(await this.control.isOn())) return;
        if (watch.boots.some((boot) => boot.version === this.versions.new)) {
          // Not awaited: a cut inside mark-valid means the acknowledgement never comes, and waiting
          // for it cost each such cut confirm.ts's 3 s; waitDark sees the cut (or its absence).
          await confirmRunningImage(this.target, { awaitAcknowledgement: false }).catch(() => undefined);
          return;
        }
        await sleep(20);
      }
    } finally {
      watch.stop();
    }
  }

  /** Whether the running image's secure_version differs from the one the campaign's images carry. */
  private secureVersionDiffers(running: number | undefined): boolean {
    if (!this.target.capabilities.has('anti-rollback')) return false;
    const own = this.target.description.options?.secureVersion;
    return running !== (typeof own === 'number' ? own : HARNESS_SECURE_VERSION);
  }

  /** Leaves the device as the campaign found it after the baseline: the old image, confirmed. */
  async restoreKnownState(): Promise<void> {
    await this.bootSaved();
  }

  private install(version: string): Promise<void> {
    return installForKnownState(this.target, version);
  }

  /** Off, the saved state put back, on, and the old image booted. */
  private async bootSaved(): Promise<void> {
    if (this.saved === undefined) throw new CampaignError('the campaign has no saved state yet');
    const saved = this.saved;
    await rigStep(this.target, 'restore the known state', async () => {
      await this.control.off();
      await this.control.restoreState(saved);
      return await this.waitForBoot(() => this.control.on());
    });
    // The known state is the old image running *and confirmed in this boot*, as an app in the field
    // confirms itself after each boot's self-test. A device whose confirmation does not stick (the
    // otadata-in-place defect ANDs VALID into PENDING_VERIFY, leaving NEW, which the bootloader
    // turns back into PENDING_VERIFY at every boot: esp-idf.md §3.4 step 4) would otherwise refuse
    // every update at esp_ota_begin with ESP_ERR_OTA_ROLLBACK_INVALID_STATE (§3.5, esp_ota_ops.c
    // L178-186), as real esp_ota_ops does. The reference update finds out (prepare); from then on
    // each restore confirms, awaiting the device's word so the confirmation's flash writes precede
    // the cut's first counted operation. A device whose confirmation sticks pays nothing.
    if (this.confirmEachBoot) await confirmRunningImage(this.target).catch(() => undefined);
  }

  /** Runs `action` and returns the version (and the secure_version ESP-IDF prints) of the boot that follows. */
  private async waitForBoot(
    action: () => Promise<void>,
    readSecureVersion = false,
  ): Promise<{ version: string; secureVersion?: number }> {
    const watch = BootWatch.start(this.target.console!, bootVersionPatterns(this.target));
    try {
      await action();
      const boot = await watch.next({ timeoutMs: rebootTimeoutMs(this.target), step: 'the device boots' });
      // `app_init: Secure version:` is printed with anti-rollback only (esp-idf.md §7.2); it may
      // follow the version line, so the boot's lines (kept growing by the watch) are read until it
      // comes, for at most a short settle.
      const secureOf = () =>
        boot.lines.map((line) => /Secure version:\s+(\d+)/.exec(line)?.[1]).find(Boolean);
      const settled = performance.now() + FLASH_QUIET_MS;
      while (readSecureVersion && secureOf() === undefined && performance.now() < settled) await sleep(10);
      const secure = secureOf();
      return { version: boot.version!, ...(secure === undefined ? {} : { secureVersion: Number(secure) }) };
    } finally {
      watch.stop();
    }
  }

  /** Trace from `mark` once no operation has come for FLASH_QUIET_MS. */
  private async quietTrace(mark: number): Promise<EmulatorFlashTrace> {
    const deadline = performance.now() + rebootTimeoutMs(this.target);
    let trace = await this.control.flashTrace(mark);
    for (;;) {
      await sleep(FLASH_QUIET_MS);
      const next = await this.control.flashTrace(mark);
      if (next.count === trace.count || performance.now() > deadline) return next;
      trace = next;
    }
  }

  /**
   * Resolves once the control plane says the power is off (the armed cut fired), so a pull update
   * returns at once instead of waiting for the device's requests to fall silent; `stop` ends the
   * polling (the update ended first).
   */
  private powerGone(): { gone: Promise<void>; stop: () => void } {
    let stopped = false;
    const gone = (async () => {
      while (!stopped) {
        if (!(await this.control.isOn().catch(() => true))) return;
        await sleep(POWER_POLL_MS);
      }
      await new Promise<never>(() => {});
    })();
    return {
      gone,
      stop: () => {
        stopped = true;
      },
    };
  }

  /** Waits for the armed cut to tear an operation; returns it, or undefined when it never fired. */
  private async waitDark(mark: number): Promise<EmulatorFlashTrace['operations'][number] | undefined> {
    const deadline = performance.now() + rebootTimeoutMs(this.target);
    // The update is over (updateTarget returned): once the flash has been still for longer than
    // the firmware's restart delay and a settle, with the power on, no operation is left to cut
    // (a point past the update's last operation waited the whole reboot timeout, 10 s).
    // Without a known restart delay, the ESP-IDF example's 1 s.
    const stillFor = FLASH_QUIET_MS * 2 + (knownRestartDelayMs(this.target) ?? 1_000);
    let count = -1;
    let changedAt = performance.now();
    for (;;) {
      const trace = await this.control.flashTrace(mark);
      const torn = trace.operations.find((operation) => !operation.completed);
      if (torn && !(await this.control.isOn())) return torn;
      if (trace.count !== count) {
        count = trace.count;
        changedAt = performance.now();
      } else if (!torn && performance.now() - changedAt > stillFor) return undefined;
      if (performance.now() > deadline) return undefined;
      await sleep(20);
    }
  }
}

/** How often the control plane's power state is read while an armed cut may fire. */
const POWER_POLL_MS = 25;

function afterLastPowerOn(markers: EmulatorFlashTrace['markers']): EmulatorFlashTrace['markers'] {
  return markers.slice(
    markers.findLastIndex((marker) => marker.kind === 'boot' && marker.detail === 'power-on') + 1,
  );
}

function wireCountOf(target: Target): 'sent' | 'acknowledged' {
  return target.profile === 'arduino-ota' ? 'acknowledged' : 'sent';
}

export type { Phase };
