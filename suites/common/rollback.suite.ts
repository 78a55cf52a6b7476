import * as allure from 'allure-js-commons';
import { EmulatorControlPower } from '../../drivers/power/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { SeededRandom } from '../../fixtures/random/index.ts';
import {
  BoardCampaign,
  type CampaignOptions,
  type CutResult,
  cutId,
  EmulatorCampaign,
  isUnsafe,
  type Phase,
  type PreparedCampaign,
} from '../campaigns/powercut/index.ts';
import { currentTarget, type RequirementContext, strategyRequirement } from '../framework/index.ts';
import {
  confirmRunningImage,
  describeBoot,
  describeImage,
  freshVersion,
  fromBoot,
  imageFor,
  powerCycle,
  powerOnAfterCut,
  type RunningImage,
  StrategyUnsupportedError,
  sameImage,
  type UpdateResult,
  updateTarget,
} from '../framework/strategy/index.ts';

/*
 * What every target that claims power control must survive, whatever its update protocol: the
 * strategy (suites/framework/strategy) updates it through its own profile and reads what it runs
 * from the boot log once power returns. Each requirement installs its own "old" image first, so
 * the version it must fall back to is known, and ends with a confirmed image running.
 */

const SOURCE_CUT =
  'docs/protocols/esp-idf.md §3.4–3.5 (the boot slot changes only at esp_ota_set_boot_partition; power-cut hazards); docs/protocols/arduino-ota.md §4.7 power-loss semantics 1 (staging leaves the app at 0x0 untouched); docs/protocols/hil-anchors.md §8 (c.2)';
const SOURCE_PENDING =
  'docs/protocols/esp-idf.md §3.5 rollback state machine (bootloader_utility.c L394‑403: PENDING_VERIFY → ABORTED at the next boot; esp_ota_mark_app_valid_cancel_rollback → VALID)';
const SOURCE_SWEEP =
  'docs/protocols/esp-idf.md §3.4–3.5 (two otadata sectors, each erased then written; an interrupted set_boot_partition only loses the inactive entry; bootloader fallbacks write nothing); docs/protocols/arduino-ota.md §4.7 power-loss semantics 1–3; docs/protocols/hil-anchors.md §3.2 (MCUboot power failure injected at flash-operation points)';
const SOURCE_EBOOT =
  'docs/protocols/arduino-ota.md §4.7 eboot step 5 (command cleared only after the copy, PR #6823) and power-loss semantics 3 (RTC user memory through a real power-off: UNCONFIRMED)';

type Context = Pick<RequirementContext, 'target' | 'step' | 'check'>;

/** An image for the target that names a version no earlier requirement left on it. */
function fresh(target: Target, label: string): { version: string; bytes: Uint8Array } {
  const version = freshVersion(label, target);
  return { version, bytes: imageFor(target, version) };
}

function describeUpdate(result: UpdateResult): string {
  const boot = result.booted ? `; booted ${describeBoot(result.booted)}` : '';
  return `${result.accepted ? 'accepted' : 'not accepted'}: ${result.detail}${boot}`;
}

/**
 * A complete update that must end with the device running `image`: the positive control of
 * every group, and how each requirement sets up the image it expects to fall back to.
 */
async function install(
  { target, step, check }: Context,
  image: { version: string; bytes: Uint8Array },
  options: { confirm: boolean; why: string },
): Promise<RunningImage> {
  const result = await step(`update to ${image.version} (${options.why})`, () =>
    updateTarget(target, image.bytes),
  );
  check(
    result.accepted && result.booted?.version === image.version,
    `the device takes ${image.version}, restarts and boots it (${options.why})`,
    describeUpdate(result),
  );
  const booted = fromBoot(result.booted!);
  if (options.confirm && target.capabilities.has('rollback')) {
    const confirmation = await step(`confirm ${image.version}`, () => confirmRunningImage(target));
    // Silence is not a refusal (an image the firmware confirmed itself prints nothing): the
    // power cycle that follows judges whether the image was kept.
    check(
      confirmation.acknowledged !== false,
      `the device takes the confirmation (${confirmation.how})`,
      confirmation.answer,
    );
  }
  return booted;
}

/**
 * The state each requirement starts from: the device freshly powered up, which ends any session an
 * earlier requirement or suite left open (an ESP8266 in ArduinoOTA's update loop answers no
 * invitation), and — where rollback is claimed — the running image confirmed, since an earlier
 * requirement may have left it unconfirmed.
 */
async function knownState({ target, step }: Context): Promise<void> {
  if (target.power && target.capabilities.has('power-cycle')) {
    await step('known state: power cycle', () => powerCycle(target, 'known state: power cycle'));
  }
  if (!target.capabilities.has('rollback')) return;
  await step('known state: confirm the running image', () =>
    confirmRunningImage(target, { awaitAcknowledgement: false }).catch(() => undefined),
  );
}

strategyRequirement(
  'rollback/power-cut/1',
  'MUST',
  'a power cut during the image write leaves the old image booting once power returns',
  { source: SOURCE_CUT, needs: ['power-cut-at-byte', 'power-cycle'] },
  async (context) => {
    const { target, step, check } = context;
    await knownState(context);
    if (target.power instanceof EmulatorControlPower) {
      // The campaign's uncut reference update is the positive control; the cut is the page
      // program that crosses half the image, made from the state saved before the update.
      const campaign = await preparedCampaign(context);
      const writes = campaign.operations.filter(
        (operation) => operation.phase === 'write' && operation.kind === 'program',
      );
      const half = writes.reduce((sum, operation) => sum + operation.length, 0) / 2;
      const halfway = writes.find(
        (_operation, index) => writes.slice(0, index + 1).reduce((sum, each) => sum + each.length, 0) >= half,
      );
      check(
        halfway !== undefined,
        'the reference update programs the image',
        'no page program in its write phase',
      );
      const cut = await step(
        `cut at flash operation ${halfway!.operation}, halfway through the image write`,
        () => campaign.cutAt(halfway!.operation),
      );
      await step('back to the known state', () => campaign.restoreKnownState());
      check(
        cut.outcome === 'old',
        `the old image (${campaign.images.old}) runs after power-on`,
        `${cut.outcome}: ${cut.evidence}`,
      );
      return;
    }
    // Positive control first: the same kind of update without a cut runs the new image, which is
    // then the old image the cut update must fall back to.
    const old = await install(context, fresh(target, 'cut-old'), { confirm: true, why: 'positive control' });
    const next = fresh(target, 'cut-new');
    const half = Math.floor(next.bytes.length / 2);
    const attempt = await step(
      `update to ${next.version} with the power cut after ${half} of ${next.bytes.length} image bytes`,
      () => updateTarget(target, next.bytes, { cutAfterBytes: half }),
    );
    const after = await step('wait until the device is dark, then power it on', () =>
      powerOnAfterCut(target),
    );
    check(
      after.dark,
      `the device loses power partway through writing ${next.version}`,
      after.dark ? '' : `${after.detail}; the update was ${describeUpdate(attempt)}`,
    );
    const running = fromBoot(after.boot!);
    check(
      sameImage(running, old) === true,
      `the old image runs after power-on: ${describeImage(old)}`,
      `${describeImage(running)} (${running.evidence})`,
    );
  },
);

strategyRequirement(
  'rollback/pending/1',
  'MUST',
  'an updated image that was booted but not marked valid is rolled back at the next power cycle; a confirmed one stays',
  { source: SOURCE_PENDING, needs: ['rollback', 'power-cycle'] },
  async (context) => {
    const { target, step, check } = context;
    await knownState(context);
    const old = await install(context, fresh(target, 'pend-old'), {
      confirm: true,
      why: 'the image to fall back to',
    });
    const pending = fresh(target, 'pend-new');
    await install(context, pending, { confirm: false, why: 'booted, left unconfirmed' });
    const cycled = await step('power cycle without marking it valid', () => powerCycle(target));
    const running = fromBoot(cycled);
    check(
      sameImage(running, old) === true,
      `rolled back: ${describeImage(old)} runs again, not ${pending.version}`,
      `${describeImage(running)} (${running.evidence})`,
    );
    // Positive control: confirmed, the same kind of update survives the same power cycle. Each
    // profile's own way (viperhttp POST /ota/mark-valid, esp-https-ota `ota mark-valid`; firmware
    // that confirms itself needs nothing) is the strategy's confirmRunningImage().
    const confirmed = fresh(target, 'pend-ok');
    const installed = await install(context, confirmed, { confirm: true, why: 'confirmed' });
    const again = await step('power cycle after marking it valid', () => powerCycle(target));
    const kept = fromBoot(again);
    check(
      sameImage(kept, installed) === true,
      `${confirmed.version} still runs after the power cycle`,
      `${describeImage(kept)} (${kept.evidence})`,
    );
  },
);

// Only an ESP8266 stages an image for eboot to copy; on other chips the requirement does not apply.
// (Listing runs without a target and lists it.)
const platform = currentTarget()?.platform;
if (platform === undefined || platform === 'esp8266') {
  strategyRequirement(
    'rollback/eboot-copy/1',
    'SHOULD',
    "an ESP8266 that loses power during eboot's copy restarts the copy at power-on and runs the new sketch",
    { source: SOURCE_EBOOT, needs: ['power-cut-at-byte', 'power-cycle'] },
    async (context) => {
      const { target, step, check } = context;
      await knownState(context);
      const old = await install(context, fresh(target, 'copy-old'), {
        confirm: true,
        why: 'positive control',
      });
      const next = fresh(target, 'copy-new');
      // Staging writes the whole image first; the cut lands halfway through eboot's copy to 0x0.
      const cutAt = next.bytes.length + Math.floor(next.bytes.length / 2);
      const attempt = await step(
        `update to ${next.version} with the power cut halfway through eboot's copy`,
        () => updateTarget(target, next.bytes, { cutAfterBytes: cutAt }),
      );
      const restarted = attempt.boots.find((boot) => boot.software);
      check(
        restarted !== undefined,
        `the device takes all of ${next.version} and restarts into eboot before the power goes`,
        `${describeUpdate(attempt)}; boots before the cut: ${attempt.boots.map(describeBoot).join('; ') || 'none'}`,
      );
      const after = await step('wait until the device is dark, then power it on', () =>
        powerOnAfterCut(target),
      );
      check(
        after.dark,
        "the device loses power during eboot's copy",
        after.dark ? '' : `${after.detail}; the update was ${describeUpdate(attempt)}`,
      );
      const running = fromBoot(after.boot!);
      check(
        running.version === next.version,
        `eboot copies again at power-on (@cp:0) and ${next.version} runs, not ${describeImage(old)} or nothing`,
        `${describeImage(running)} (${running.evidence})`,
      );
    },
  );
}

/*
 * The cheap sweeps of `run` (`ota-conformance powercut` runs them in full): a few seeded cut
 * points, each from the same saved state at an exact flash operation on an emulator, or at an
 * acknowledged byte count through a board's power switch. The two requirements share one known
 * state and reference update per target.
 */
const RUN_SEED = 1;
const RUN_SETTLE_MS = 300;
let prepared: PreparedCampaign | undefined;

function runCampaignOptions(phases: Phase[] = ['write', 'commit']): CampaignOptions {
  return { seed: RUN_SEED, points: 1, phases, bisect: false, settleMs: RUN_SETTLE_MS, baseline: 'as-is' };
}

/**
 * The campaign of this target's worker, prepared once (known state: the running image, saved; the
 * uncut reference update) and shared by the requirements that cut from it.
 */
async function preparedCampaign(context: Context): Promise<EmulatorCampaign> {
  const campaign = new EmulatorCampaign(context.target, runCampaignOptions(), prepared);
  if (!prepared) {
    await context.step('known state (the running image, saved), then the uncut reference update', () =>
      campaign.prepare(),
    );
    prepared = campaign.prepared;
  }
  return campaign;
}

/**
 * The small sweep of `run`: in each of the given phases the update has, one cut at an operation
 * drawn from the seed (an ESP32's commit is two operations: the erase and the write of the
 * inactive otadata entry). `powercut` sweeps them all.
 */
async function sweepInRun(context: Context, phases: Phase[]): Promise<CutResult[]> {
  const { step } = context;
  const campaign = await preparedCampaign(context);
  const random = new SeededRandom(RUN_SEED);
  const cuts: CutResult[] = [];
  for (const phase of phases) {
    const candidates = campaign.operations.filter((operation) => operation.phase === phase);
    if (candidates.length === 0) continue;
    const operation = candidates[random.int(0, candidates.length - 1)]!;
    cuts.push(
      await step(
        `cut at flash operation ${operation.operation} (${operation.phase}, ${operation.kind} at 0x${operation.address.toString(16)})`,
        () => campaign.cutAt(operation.operation),
      ),
    );
  }
  await step('back to the known state', () => campaign.restoreKnownState());
  return cuts;
}

function describeCuts(cuts: readonly CutResult[]): string {
  return cuts
    .map(
      (cut) => `${cutId(cut)} ${cut.point.phase} ${cut.point.kind ?? ''} → ${cut.outcome} (${cut.evidence})`,
    )
    .join('; ');
}

async function attachCuts(cuts: readonly CutResult[]): Promise<void> {
  await allure.attachment('power cuts', JSON.stringify(cuts, null, 2), 'application/json');
}

strategyRequirement(
  'rollback/power-cut/2',
  'MUST',
  'a sweep of power cuts over the image write and the commit finds no brick: after every cut the old or the new image runs (or the old one again after a rollback)',
  { source: SOURCE_SWEEP, needs: ['power-cut-at-byte'] },
  async (context) => {
    const { target, step, check } = context;
    await knownState(context);
    let cuts: CutResult[];
    if (target.power instanceof EmulatorControlPower) {
      cuts = await sweepInRun(context, ['write', 'commit']);
    } else {
      // A board: cut through its own power switch at acknowledged image bytes.
      const campaign = new BoardCampaign(target, { ...runCampaignOptions(['transfer']), by: 'acknowledged' });
      const result = await step('a sweep through the power switch at acknowledged bytes', () =>
        campaign.run(),
      );
      cuts = result.cuts;
    }
    await attachCuts(cuts);
    check(cuts.length > 0, 'at least one cut landed in the update', 'the sweep made no cut');
    const unsafe = cuts.filter((cut) => isUnsafe(cut.outcome));
    check(
      unsafe.length === 0,
      `every cut leaves a bootable image of the device's own choosing (${cuts.length} cuts)`,
      describeCuts(unsafe),
    );
  },
);

if (platform === undefined || platform === 'esp8266') {
  strategyRequirement(
    'rollback/eboot-copy/2',
    'MUST',
    "a power cut at any sector of eboot's copy resumes the copy at power-on and runs the new sketch",
    { source: SOURCE_EBOOT, needs: ['power-cut-at-byte', 'eboot-resume'] },
    async (context) => {
      const { target, check } = context;
      await knownState(context);
      if (!(target.power instanceof EmulatorControlPower))
        throw new StrategyUnsupportedError(
          `target ${target.name}: a cut inside eboot's copy needs an exact flash operation (an emulator's control plane); a board's copy starts after the last acknowledged byte`,
        );
      const cuts = await sweepInRun(context, ['eboot-copy']);
      await attachCuts(cuts);
      check(
        cuts.length > 0,
        "at least one cut landed in eboot's copy",
        'the reference update showed no eboot copy',
      );
      const wrong = cuts.filter((cut) => cut.outcome !== 'new');
      check(
        wrong.length === 0,
        `the new sketch runs after every cut in the copy (${cuts.length} cuts)`,
        describeCuts(wrong),
      );
    },
  );
}
