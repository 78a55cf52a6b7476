import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../../../drivers/target/index.ts';
import {
  BootWatch,
  bootVersionPatterns,
  imageFor,
  rebootTimeoutMs,
  updateTarget,
  type WireProgress,
} from '../../framework/strategy/index.ts';
import { type CampaignOptions, type CampaignResult, campaignResult } from './campaign-result.ts';
import { type CutResult, cutStopwatch, isUnsafe } from './cut-point.ts';
import { CampaignError, campaignVersions, installForKnownState } from './emulator-campaign.ts';
import { powerOnAndObserve } from './observe-after-cut.ts';
import { rigStep } from './rig-step.ts';
import { byteSweepPoints } from './sweep-points.ts';

/**
 * Profiles whose delivery reports image bytes as they go: espota's byte-count acks (acknowledged
 * and sent), and the pull profiles' update server, which counts what it hands to the device (sent).
 */
const COUNTING_PROFILES: Record<'acknowledged' | 'sent', ReadonlySet<Target['profile']>> = {
  acknowledged: new Set(['arduino-ota']),
  sent: new Set(['arduino-ota', 'http-update', 'esp-https-ota', 'luartos']),
};

/** The ROM's reset banner (ESP32 `rst:0x…`, ESP8266 `ets … rst cause:`): the chip restarted (esp-idf.md §7.1, §7.3). */
const ROM_RESET_LINE = /^rst:0x|rst cause:/;

/** Where a board campaign cuts: at a byte count (acknowledged or sent), or at a console line. */
export type BoardCutTrigger = { by: 'acknowledged' | 'sent' } | { atLine: RegExp };

/**
 * A power-cut campaign on a board: nothing numbers its flash operations, so each cut is asked for
 * at a number of image bytes on the wire — sent by the harness, or acknowledged by the device —
 * and made through the rig's own power driver (a plug, a relay). What the driver achieved is
 * recorded, not assumed: the byte count when the switch had answered, and how long it took.
 * Between cuts the board is walked back to the old image with an uncut update; a cut that leaves
 * it without a bootable image ends the campaign (it needs reflashing).
 */
export class BoardCampaign {
  private readonly versions: ReturnType<typeof campaignVersions>;
  private readonly newImage: Uint8Array;
  private running: string | undefined;

  constructor(
    private readonly target: Target,
    private readonly options: CampaignOptions & BoardCutTrigger,
  ) {
    if (!target.power || !target.capabilities.has('power-cycle'))
      throw new CampaignError(
        `target ${target.name}: a board campaign switches the rig's power, and the rig gives none`,
      );
    if (!target.console)
      throw new CampaignError(
        `target ${target.name}: the campaign reads boots from the console and the rig gives none`,
      );
    if ('by' in options && !COUNTING_PROFILES[options.by].has(target.profile))
      throw new CampaignError(
        `target ${target.name}: cutting at ${options.by} bytes needs a delivery that counts them; ${target.profile}'s does not (${options.by}: ${[...COUNTING_PROFILES[options.by]].join(', ')})`,
      );
    if ('by' in options && options.by === 'sent' && target.profile === 'arduino-ota')
      options.log?.('espota counts both; cutting at acknowledged bytes is the exact one');
    this.versions = campaignVersions(options.seed);
    this.newImage = imageFor(target, this.versions.new);
  }

  async prepare(): Promise<[]> {
    await rigStep(this.target, 'power cycle to a known state', async () => {
      const watch = BootWatch.start(this.target.console!, bootVersionPatterns(this.target));
      try {
        await this.target.power!.cycle(200);
        const boot = await watch.next({ timeoutMs: rebootTimeoutMs(this.target), step: 'the device boots' });
        this.running = boot.version;
      } finally {
        watch.stop();
      }
    });
    for (const version of [this.versions.first, this.versions.old]) await this.install(version);
    return [];
  }

  async run(): Promise<CampaignResult> {
    const started = performance.now();
    await this.prepare();
    const cuts: CutResult[] = [];
    let stopped: string | undefined;
    const atLine = 'atLine' in this.options;
    for (const point of atLine ? range(1, this.options.points) : this.points()) {
      const cut = atLine ? await this.cutAtLine(point) : await this.cutAt(point);
      cuts.push(cut);
      const where = atLine ? `line ${point}` : `${'by' in this.options ? this.options.by : ''} ${point}`;
      this.options.log?.(`cut ${cuts.length}: ${where} → ${cut.outcome}`);
      if (cut.outcome === 'no-boot') {
        stopped = `the cut at ${where} left no bootable image; the board needs reflashing before more cuts`;
        break;
      }
      if (atLine && cut.point.consoleLine === undefined) {
        stopped = `the update printed fewer than ${point} lines matching ${this.options.atLine}`;
        break;
      }
    }
    if (!stopped) await this.restoreKnownState();
    return campaignResult(this.target, {
      method: 'power-driver',
      seed: this.options.seed,
      phases: atLine ? [...new Set(cuts.map((cut) => cut.point.phase))] : ['transfer'],
      versions: { old: this.versions.old, new: this.versions.new },
      reference: [],
      cuts,
      startedAt: started,
      ...(stopped ? { stopped } : {}),
    });
  }

  /** Byte counts spread over the image (short of its last byte), one per equal stretch, drawn from the seed. */
  points(): number[] {
    return byteSweepPoints(this.newImage.length - 1, this.options.points, this.options.seed);
  }

  /**
   * One cut at a console line: the old image running, the update, the power switched off as the
   * `occurrence`-th device line matching the campaign's pattern appears, power on. The line, the
   * image bytes sent by then (where the delivery counts them) and the driver's latency are recorded.
   */
  async cutAtLine(occurrence: number): Promise<CutResult> {
    if (!('atLine' in this.options))
      throw new CampaignError('a cut at a console line needs the campaign pattern (--at-line)');
    const pattern = this.options.atLine;
    const { target } = this;
    const clock = cutStopwatch();
    if (this.running !== this.versions.old) await this.install(this.versions.old);
    clock.lap('restore');
    const power = target.power!;
    const consoleFrom = target.console!.lines().length;
    let sent: number | undefined;
    let seen = 0;
    let restarted = false;
    let cut: { line: string; sent?: number; restarted: boolean; latencyMs: number } | undefined;
    let switching: Promise<void> | undefined;
    const unsubscribe = target.console!.onLine((line) => {
      if (switching || line.source !== 'device') return;
      if (ROM_RESET_LINE.test(line.text)) restarted = true;
      if (!pattern.test(line.text) || ++seen < occurrence) return;
      const asked = performance.now();
      const at = { line: line.text, restarted, ...(sent === undefined ? {} : { sent }) };
      switching = power.off().then(() => {
        cut = { ...at, latencyMs: Math.round(performance.now() - asked) };
      });
    });
    let attempt: Awaited<ReturnType<typeof updateTarget>>;
    try {
      attempt = await updateTarget(target, this.newImage, {
        armedCut: true,
        onProgress: (progress) => {
          sent = progress.sent;
        },
      });
      // The line may come after the exchange: the restart into the new image, eboot's copy, the first boot.
      const deadline = performance.now() + rebootTimeoutMs(target);
      while (!switching && performance.now() < deadline) await sleep(20);
    } finally {
      unsubscribe();
    }
    if (!switching) switching = power.off().then(() => undefined);
    await rigStep(this.target, 'switch the power off', () => switching!);
    clock.lap('cut');
    return await this.observe(consoleFrom, clock, {
      point: {
        // Nothing numbers a board's flash operations: a line after the chip's own restart belongs
        // to eboot's copy (ESP8266) or the first boot (ESP32), any earlier one to the transfer.
        phase: cut?.restarted ? (target.platform === 'esp8266' ? 'eboot-copy' : 'first-boot') : 'transfer',
        lineOccurrence: occurrence,
        ...(cut ? { consoleLine: cut.line, driverLatencyMs: cut.latencyMs } : {}),
        ...(cut?.sent === undefined ? {} : { wireBytes: cut.sent, wireCount: 'sent' as const }),
      },
      evidence: cut ? undefined : `no ${ordinal(occurrence)} line matching ${pattern} (${attempt.detail})`,
    });
  }

  /** Power on after a cut, classify, and keep what the board runs now. */
  private async observe(
    consoleFrom: number,
    clock: ReturnType<typeof cutStopwatch>,
    found: { point: CutResult['point']; evidence: string | undefined },
  ): Promise<CutResult> {
    const observed = await powerOnAndObserve(this.target, {
      versions: this.versions,
      consoleFrom,
      settleMs: this.options.settleMs,
    });
    clock.lap('observe');
    this.running =
      observed.outcome === 'new'
        ? this.versions.new
        : isUnsafe(observed.outcome)
          ? undefined
          : this.versions.old;
    return {
      seed: this.options.seed,
      point: found.point,
      outcome: observed.outcome,
      evidence: found.evidence === undefined ? observed.evidence : `${found.evidence}; ${observed.evidence}`,
      console: observed.console,
      timingsMs: clock.timings,
    };
  }

  /** One cut: the old image running, the update, the power switched off at `bytes`, power on. */
  async cutAt(bytes: number): Promise<CutResult> {
    if (!('by' in this.options))
      throw new CampaignError('a cut at a byte count needs --by acknowledged or --by sent');
    const by = this.options.by;
    const { target } = this;
    const clock = cutStopwatch();
    if (this.running !== this.versions.old) await this.install(this.versions.old);
    clock.lap('restore');
    const power = target.power!;
    const consoleFrom = target.console!.lines().length;
    let last = 0;
    let cut: { achieved: number; latencyMs: number } | undefined;
    let switching: Promise<void> | undefined;
    const count = (progress: WireProgress) =>
      by === 'acknowledged' ? (progress.acknowledged ?? 0) : progress.sent;
    const attempt = await updateTarget(target, this.newImage, {
      armedCut: true,
      onProgress: (progress) => {
        last = count(progress);
        if (switching || last < bytes) return;
        const asked = performance.now();
        switching = power.off().then(() => {
          cut = { achieved: last, latencyMs: Math.round(performance.now() - asked) };
        });
      },
    });
    // The update may end before the count was reached (a refusal, or bytes past the image).
    if (!switching) switching = power.off().then(() => undefined);
    await rigStep(this.target, 'switch the power off', () => switching!);
    clock.lap('cut');
    return await this.observe(consoleFrom, clock, {
      point: {
        phase: 'transfer',
        requestedBytes: bytes,
        wireBytes: cut?.achieved ?? last,
        wireCount: by,
        ...(cut ? { driverLatencyMs: cut.latencyMs } : {}),
      },
      evidence: cut ? undefined : `the count never reached ${bytes} (${attempt.detail})`,
    });
  }

  async restoreKnownState(): Promise<void> {
    if (this.running !== this.versions.old) await this.install(this.versions.old);
  }

  private async install(version: string): Promise<void> {
    await installForKnownState(this.target, version);
    this.running = version;
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => from + index);
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
