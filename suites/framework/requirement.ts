import * as allure from 'allure-js-commons';
import { type TestContext, test as vitestTest } from 'vitest';
import { type ImageSent, recordImagesInto, takeImagesSent } from '../../drivers/image-ledger/index.ts';
import {
  acquireTargetLease,
  connectTarget,
  type Target,
  type TargetDescription,
} from '../../drivers/target/index.ts';
import { Transcript } from '../../drivers/target/transcript.ts';
import type { Capability } from '../../rigs/index.ts';
import type { Level, Platform } from '../../vocabulary/index.ts';
import { currentTarget, currentTargetNotRun, requirementSelected } from './current-target.ts';
import { restartToKnownState } from './known-state.ts';
import { closeWhatTheRequirementOpened } from './requirement-scope.ts';
import { isRigError, RigFailure } from './rig-failure.ts';
import { restoreKnownState } from './strategy/known-state.ts';
import { ImageUnavailableError } from './strategy/rig-images.ts';
import { currentTargetName, runInTarget } from './target-context.ts';

/** What a requirement is, as listed and reported: the h2spec shape (ID, level, text, source). */
export interface RequirementMeta {
  id: string;
  level: Level;
  text: string;
  /** Where it comes from: a seed file and section, or an upstream file from the reference. */
  source: string;
  /** Capabilities the target must claim; without them the requirement is skipped with the reason. */
  needs: Capability[];
  /** Alternatives, one of which the target must claim (an update check triggered on the console or by a power cycle). */
  needsOneOf?: Capability[];
}

declare module 'vitest' {
  interface TaskMeta {
    requirement?: RequirementMeta;
    /** Set on the stand-in test of a suite file that did not load (suites/runner/target-suites.ts). */
    suiteLoad?: string;
    /** Set when the requirement was not run because its target's preflight failed (the reason). */
    notRun?: string;
    /** The images the harness sent the target for this requirement (SHA-256, size, how, version). */
    images?: ImageSent[];
  }
}

export { isRigError, RigFailure };

/** The failure of a requirement: the requirement first, then what was expected and what the target did. */
export class RequirementFailure extends Error {
  override readonly name = 'RequirementFailure';
  constructor(
    meta: RequirementMeta,
    readonly expected: string,
    readonly actual: string,
    options?: ErrorOptions,
  ) {
    super(
      `${meta.id} [${meta.level}] ${meta.text}\n  source:   ${meta.source}\n  Expected: ${expected}\n  Actual:   ${actual}`,
      options,
    );
  }
}

export interface RequirementContext {
  target: Target;
  meta: RequirementMeta;
  /** One protocol step: a line in the report (an Allure step) and in the wire transcript. */
  step<T>(name: string, body: () => T | Promise<T>): Promise<T>;
  /** Fails the requirement with Expected/Actual unless `ok`. */
  check(ok: boolean, expected: string, actual: string): void;
}

/**
 * What this worker keeps per target: its connection (drivers bound to the device, opened at its
 * first requirement and closed by `releaseTarget` after its last), whether the previous
 * requirement did not pass (a requirement that failed, hit a rig error or timed out makes the next
 * one restart the device first, known-state.ts, so one bad outcome never decides the next), and
 * the images sent to it since the last requirement ended.
 */
interface TargetState {
  connection?: Promise<{ target: Target; release: () => Promise<void> }>;
  previousDidNotPass: boolean;
  images: ImageSent[];
}
const states = new Map<string, TargetState>();

function stateOf(name: string): TargetState {
  let state = states.get(name);
  if (state === undefined) {
    state = { previousDidNotPass: false, images: [] };
    states.set(name, state);
  }
  return state;
}

/** The target's drivers, connected (under its lease) at its first requirement. */
async function connected(description: TargetDescription): Promise<Target> {
  const state = stateOf(description.name);
  state.connection ??= (async () => {
    const lease = await acquireTargetLease(description.lockDir, description.name);
    try {
      const target = await connectTarget(description);
      return {
        target,
        release: async () => {
          try {
            await target.dispose();
          } finally {
            await lease.release();
          }
        },
      };
    } catch (error) {
      await lease.release();
      throw error;
    }
  })();
  try {
    return (await state.connection).target;
  } catch (error) {
    // Not connected: the next requirement tries again.
    state.connection = undefined;
    throw error;
  }
}

/** Closes the target's drivers and gives up its lease (the entry file calls it after its last requirement). */
export async function releaseTarget(name: string): Promise<void> {
  const state = states.get(name);
  const connection = state?.connection;
  if (state === undefined || connection === undefined) return;
  state.connection = undefined;
  const opened = await connection.catch(() => undefined);
  await opened?.release();
}

const SEVERITY: Record<Level, string> = { MUST: 'critical', SHOULD: 'normal', MAY: 'minor' };

/**
 * Declares one requirement as one test. The ID is `profile/group/n`; the test name starts with
 * it so `--grep viperhttp/auth` selects a group. A target that does not claim what `needs`
 * lists is skipped with the missing capability as the reason.
 */
export function requirement(
  id: string,
  level: Level,
  text: string,
  options: {
    source: string;
    needs?: Capability[];
    /** Alternatives, one of which the target must claim. */
    needsOneOf?: Capability[];
    /** The chips it concerns; a target that names another platform is skipped with the reason. */
    platforms?: readonly Platform[];
    timeoutMs?: number;
  },
  body: (context: RequirementContext) => Promise<void>,
): void {
  const meta: RequirementMeta = {
    id,
    level,
    text,
    source: options.source,
    needs: options.needs ?? [],
    ...(options.needsOneOf ? { needsOneOf: options.needsOneOf } : {}),
  };
  // The target whose suites are being collected: the requirement runs against it, in its context.
  const targetName = currentTargetName();
  // Not selected for this target (a re-run of failures): declared skipped without a reason, which
  // the reports treat as not run at all, as they do a requirement --grep leaves out.
  (requirementSelected(id) ? vitestTest : vitestTest.skip)(
    `${id} ${text}`,
    { meta: { requirement: meta }, timeout: options.timeoutMs },
    async ({ skip, task, signal }) => {
      if (targetName === undefined) {
        throw new RigFailure('no target: the suites run through `ota-conformance run`, which gives each one');
      }
      const state = stateOf(targetName);
      await runInTarget(targetName, () =>
        recordImagesInto(state.images, () => runRequirement(targetName, state, { skip, task, signal })),
      );
    },
  );

  async function runRequirement(
    targetName: string,
    state: TargetState,
    { skip, task, signal }: Pick<TestContext, 'skip' | 'task' | 'signal'>,
  ): Promise<void> {
    const description = currentTarget();
    if (description === undefined) throw new RigFailure(`the run provided no target named ${targetName}`);
    // A target whose preflight failed is not touched again: no lease, no console, no request.
    const target = currentTargetNotRun() === undefined ? await connected(description) : undefined;
    if (target === undefined) {
      const reason = currentTargetNotRun() ?? 'the target was not run';
      task.meta.notRun = reason;
      skip(`not run: ${reason}`);
      return;
    }
    const missing = meta.needs.filter((capability) => !target.capabilities.has(capability));
    if (missing.length > 0) {
      skip(`target ${target.name} does not claim ${missing.join(', ')}`);
      return;
    }
    const oneOf = meta.needsOneOf;
    if (oneOf && !oneOf.some((capability) => target.capabilities.has(capability))) {
      skip(`target ${target.name} claims none of ${oneOf.join(', ')} (it needs one)`);
      return;
    }
    if (options.platforms && target.platform && !options.platforms.includes(target.platform)) {
      skip(`target ${target.name} is ${target.platform}; this concerns ${options.platforms.join(', ')}`);
      return;
    }
    const [profile, group] = id.split('/');
    await allure.epic(profile ?? id);
    await allure.feature(group ?? id);
    await allure.story(id);
    await allure.severity(SEVERITY[level]);
    await allure.parameter('target', target.name);
    await allure.label('requirementSource', meta.source);
    target.transcript.take();
    takeImagesSent(state.images);
    const consoleStart = target.console?.lines().length ?? 0;
    const step: RequirementContext['step'] = async (name, fn) =>
      await allure.step(target.redactor.redact(name), async () => {
        target.transcript.record(name, 'event', 'step');
        return await fn();
      });
    // Given up on at its timeout, the body keeps running: what it opened is closed now, and the
    // next requirement starts by restarting the device.
    const onAbort = () => {
      state.previousDidNotPass = true;
      void closeWhatTheRequirementOpened(targetName);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    try {
      if (state.previousDidNotPass) {
        state.previousDidNotPass = false;
        await step('known state: restart the device (the previous requirement did not pass)', async () => {
          const how = await restartToKnownState(target);
          target.transcript.record(
            'known state',
            'event',
            how ?? 'the rig can neither power-cycle nor reset it',
          );
        });
      }
      await body({
        target,
        meta,
        step,
        check: (ok, expected, actual) => {
          if (!ok) throw new RequirementFailure(meta, expected, actual);
        },
      });
      settled = true;
    } catch (error) {
      // The rig cannot give this board the image the requirement needs: skipped with the reason.
      if (error instanceof ImageUnavailableError) {
        settled = true;
        skip(error.message);
        return;
      }
      // A board left in an unknown state gets its baseline back before the next requirement.
      const restored = await restoreKnownState(target);
      if (restored !== undefined) {
        target.transcript.record('known state', 'event', restored);
        await allure.attachment('known state', target.redactor.redact(restored), 'text/plain');
      }
      if (error instanceof RequirementFailure || isRigError(error)) throw error;
      throw asRequirementFailure(meta, error);
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!settled) state.previousDidNotPass = true;
      await closeWhatTheRequirementOpened(targetName);
      const images = takeImagesSent(state.images);
      if (images.length > 0) task.meta.images = images;
      const wire = target.transcript.take();
      if (wire.length > 0) await allure.attachment('wire transcript', Transcript.format(wire), 'text/plain');
      if (target.console) {
        const lines = target.console.lines().slice(consoleStart);
        const text = target.redactor.redact(lines.map((line) => line.text).join('\n'));
        await allure.attachment('console log', text, 'text/plain');
      }
    }
  }
}

/** Turns an assertion error (vitest's expect) into Expected/Actual under the requirement. */
function asRequirementFailure(meta: RequirementMeta, error: unknown): RequirementFailure {
  const assertion = error as { expected?: unknown; actual?: unknown; message?: string };
  if (assertion && 'expected' in assertion && 'actual' in assertion) {
    return new RequirementFailure(meta, describe(assertion.expected), describe(assertion.actual), {
      cause: error,
    });
  }
  return new RequirementFailure(meta, 'the exchange to complete', String(assertion?.message ?? error), {
    cause: error,
  });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
