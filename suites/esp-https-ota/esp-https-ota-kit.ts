import type { Target } from '../../drivers/target/index.ts';
import { firmware, type Routes, type Script } from '../../drivers/update-server/index.ts';
import { cycleOffMs, type RequirementContext } from '../framework/index.ts';
import {
  appImage,
  consoleMark,
  consoleSince,
  expectNoReboot,
  type PullImage,
  type PullSession,
  watchConsole,
  withPullSession,
} from '../http-update/pull-kit.ts';

export const SOURCE_6_1 =
  'docs/protocols/esp-idf.md §6.1 (examples/system/ota/advanced_https_ota/pytest_advanced_ota.py)';

/** Every image these suites serve has this secure_version, so an anti-rollback eFuse never blocks them. */
export const BASE_SECURE_VERSION = 2;

export function espImage(target: Target, options: { secureVersion?: number } = {}): PullImage {
  // Larger than the 64000 bytes the truncated-image test keeps.
  return appImage(target, { size: 80 * 1024, secureVersion: options.secureVersion ?? BASE_SECURE_VERSION });
}

type Context = Pick<RequirementContext, 'step' | 'check' | 'target'>;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
export const bootedInto = (version: string) => new RegExp(`App version:\\s+${escapeRegExp(version)}\\s*$`);
/** The example refuses an image with the running version: the idle answer, and proof of what runs. */
const SAME_VERSION = /Current running version is the same as a new/;
/** How one OTA task of the example ends when the update did not happen. */
const FAILED_TASK = /ESP_HTTPS_OTA upgrade failed|ESP HTTPS OTA Begin failed/;
/** How one OTA task of the example ends. */
export const TASK_END =
  /ESP_HTTPS_OTA upgrade (failed|successful)|ESP HTTPS OTA Begin failed|Current running version is the same as a new/;

/** Resets the chip: the reset line where the rig has one, else a power cycle. */
export async function resetDevice(target: Target): Promise<void> {
  const reset = target.reset as
    | { reset?: () => Promise<void>; cycle?: (offMs?: number) => Promise<void> }
    | undefined;
  if (reset?.reset) await reset.reset();
  else if (target.power) await target.power.cycle(cycleOffMs(target, 100));
  else throw new Error(`target ${target.name} has neither a reset line nor a power switch`);
}

/**
 * Serves `image` on the next check and waits until the device booted it (`App version:` on the
 * console) and its OTA task at boot, offered the same image, said it runs that version. With
 * `confirm` (default) the new image is then marked valid (`ota mark-valid`), as an app does after
 * its self-test, so the bootloader keeps it.
 */
export async function installEsp(
  context: Context,
  session: PullSession,
  image: PullImage,
  options: { confirm?: boolean; routes?: Routes; script?: Script } = {},
): Promise<void> {
  const { step, check, target } = context;
  const booted = watchConsole(target, bootedInto(image.version), `boot into ${image.version}`, 15_000);
  const settled = watchConsole(target, SAME_VERSION, `the boot check of ${image.version} is idle`, 15_000);
  const mark = consoleMark(target);
  await step(`offer ${image.version} over HTTPS`, () =>
    session.check(`check for ${image.version}`, options.script ?? firmware(image.bytes), options.routes),
  );
  // A refused download ends this OTA task: no boot can follow, so the requirement need not wait for
  // one. Watched from this check's first request on, so an earlier task's failure cannot count.
  const failed = watchConsole(target, FAILED_TASK, `the download of ${image.version} fails`, 15_000);
  const line = await step(`the device boots ${image.version}`, () =>
    Promise.race([booted, failed.then(() => undefined)]).catch(() => undefined),
  );
  check(
    line !== undefined,
    `the device downloads ${image.version}, reboots and prints App version: ${image.version}`,
    consoleSince(target, mark)
      .filter((text) => /esp_https_ota|advanced_https_ota|App version|rst:/.test(text))
      .slice(-6)
      .join(' | '),
  );
  session.answer(firmware(image.bytes));
  await settled.catch(() => undefined);
  if (options.confirm !== false && target.capabilities.has('rollback') && target.console) {
    const confirmed = watchConsole(
      target,
      /App is valid, rollback cancelled/,
      'confirm the new image',
      3_000,
    );
    await target.console.write('ota mark-valid\n', { step: 'confirm the new image' });
    await confirmed.catch(() => undefined);
  }
}

/** Triggers a check that the device must find idle (it runs `known`), proving what it runs. */
export async function expectRunning(context: Context, session: PullSession, known: PullImage): Promise<void> {
  const { step, check, target } = context;
  const running = watchConsole(target, /Running firmware version: (\S+)/, 'the running version', 15_000);
  const settled = watchConsole(target, TASK_END, 'the idle check ends', 15_000);
  session.answer(firmware(known.bytes));
  await step(`check again: the device still runs ${known.version}`, () => session.trigger('idle check'));
  const line = await running.catch((error: Error) => error.message);
  check(
    line.endsWith(`Running firmware version: ${known.version}`),
    `Running firmware version: ${known.version}`,
    line,
  );
  await settled.catch(() => undefined);
}

/**
 * One refused update: install a known image (the positive control), serve the fault, and check the
 * console names the reason, the chip does not restart, and the known image still runs.
 */
export async function refusesEsp(
  context: Context,
  options: {
    what: string;
    fault: (image: PullImage) => Script;
    routes?: (image: PullImage) => Routes;
    reason: RegExp;
    /** A line that shows the image got further than it may (a flash write for a refused header). */
    tooFar?: RegExp;
  },
): Promise<void> {
  const { step, check, target } = context;
  await withPullSession(target, firmware(new Uint8Array(0)), async (session) => {
    const known = espImage(target);
    await installEsp(context, session, known);
    const offered = espImage(target);
    const mark = consoleMark(target);
    const ended = watchConsole(target, TASK_END, `the OTA task ends after the ${options.what}`, 15_000);
    await step(`answer the check with ${options.what}`, () =>
      session.check(
        `check answered with ${options.what}`,
        options.fault(offered),
        options.routes?.(offered) ?? {},
      ),
    );
    const end = await ended.catch((error: Error) => error.message);
    const log = consoleSince(target, mark);
    check(
      log.some((text) => options.reason.test(text)) &&
        !/successful/.test(end) &&
        !log.some((text) => options.tooFar?.test(text) === true),
      `the update is refused with ${options.reason}`,
      log
        .filter((text) => /[EW] \(\d+\)/.test(text))
        .slice(-5)
        .join(' | ') || end,
    );
    await step('no restart after the refused update', () =>
      expectNoReboot(target, mark, check, `after the ${options.what}`),
    );
    await expectRunning(context, session, known);
  });
}
