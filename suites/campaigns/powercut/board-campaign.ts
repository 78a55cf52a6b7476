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
import { type CutResult, isUnsafe } from './cut-point.ts';
import { CampaignError, campaignVersions, installForKnownState } from './emulator-campaign.ts';
import { powerOnAndObserve } from './observe-after-cut.ts';
import { rigStep } from './rig-step.ts';
import { byteSweepPoints } from './sweep-points.ts';

/** Profiles whose delivery reports image bytes as they go (espota's byte-count acks). */
const COUNTING_PROFILES = new Set<Target['profile']>(['arduino-ota']);

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
    private readonly options: CampaignOptions & { by: 'acknowledged' | 'sent' },
  ) {
    if (!target.power || !target.capabilities.has('power-cycle'))
      throw new CampaignError(
        `target ${target.name}: a board campaign switches the rig's power, and the rig gives none`,
      );
    if (!target.console)
      throw new CampaignError(
        `target ${target.name}: the campaign reads boots from the console and the rig gives none`,
      );
    if (!COUNTING_PROFILES.has(target.profile))
      throw new CampaignError(
        `target ${target.name}: cutting at a byte count needs a delivery that reports its bytes; ${target.profile}'s does not yet (arduino-ota does)`,
      );
    if (options.by === 'sent' && target.profile === 'arduino-ota')
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
    for (const bytes of this.points()) {
      const cut = await this.cutAt(bytes);
      cuts.push(cut);
      this.options.log?.(`cut ${cuts.length}: ${this.options.by} ${bytes} → ${cut.outcome}`);
      if (cut.outcome === 'no-boot') {
        stopped = `the cut at ${bytes} ${this.options.by} bytes left no bootable image; the board needs reflashing before more cuts`;
        break;
      }
    }
    if (!stopped) await this.restoreKnownState();
    return campaignResult(this.target, {
      method: 'power-driver',
      seed: this.options.seed,
      phases: ['transfer'],
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

  /** One cut: the old image running, the update, the power switched off at `bytes`, power on. */
  async cutAt(bytes: number): Promise<CutResult> {
    const { target } = this;
    if (this.running !== this.versions.old) await this.install(this.versions.old);
    const power = target.power!;
    const consoleFrom = target.console!.lines().length;
    let last = 0;
    let cut: { achieved: number; latencyMs: number } | undefined;
    let switching: Promise<void> | undefined;
    const count = (progress: WireProgress) =>
      this.options.by === 'acknowledged' ? (progress.acknowledged ?? 0) : progress.sent;
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
    const observed = await powerOnAndObserve(target, {
      versions: this.versions,
      consoleFrom,
      settleMs: this.options.settleMs,
    });
    this.running =
      observed.outcome === 'new'
        ? this.versions.new
        : isUnsafe(observed.outcome)
          ? undefined
          : this.versions.old;
    return {
      seed: this.options.seed,
      point: {
        phase: 'transfer',
        requestedBytes: bytes,
        wireBytes: cut?.achieved ?? last,
        wireCount: this.options.by,
        ...(cut ? { driverLatencyMs: cut.latencyMs } : {}),
      },
      outcome: observed.outcome,
      evidence: cut
        ? observed.evidence
        : `the count never reached ${bytes} (${attempt.detail}); ${observed.evidence}`,
      console: observed.console,
    };
  }

  async restoreKnownState(): Promise<void> {
    if (this.running !== this.versions.old) await this.install(this.versions.old);
  }

  private async install(version: string): Promise<void> {
    await installForKnownState(this.target, version);
    this.running = version;
  }
}
