import {
  acquireTargetLease,
  connectTarget,
  type Target,
  type TargetDescription,
} from '../../../drivers/target/index.ts';
import { fingerprintsFor } from './fingerprints.ts';

/** Why a target was not run: the first preflight step that failed, and how. */
export interface PreflightFailure {
  target: string;
  /** The step that failed, as printed: `console opens`, `power switch answers`, a fingerprint. */
  step: string;
  reason: string;
  durationMs: number;
}

/** One check of a target that must pass before its suites run. */
export interface PreflightStep {
  name: string;
  run(target: Target): Promise<void>;
}

/** Thrown by a fingerprint when something answers but it is not the device the profile speaks to. */
export class WrongDeviceError extends Error {
  override readonly name = 'WrongDeviceError';
  readonly code = 'PREFLIGHT_WRONG_DEVICE';
}

class StepTimeoutError extends Error {
  readonly code = 'PREFLIGHT_STEP_TIMEOUT';
}

/** The per-step timeout when the rig sets none: the drivers' own default (drivers/target). */
const DEFAULT_STEP_TIMEOUT_MS = 5_000;
/** A target another run holds is waited for this long before the preflight gives up on it. */
const LEASE_TIMEOUT_MS = 600_000;

/**
 * Checks a target before its suites: the power switch answers, the console opens, and the device
 * answers the way its profile does (fingerprints.ts). Each step has the rig's step timeout, so a
 * silent socket fails in one step timeout rather than once per requirement. The first failure is
 * returned (and ends the preflight); undefined when the target is ready.
 */
export async function preflightTarget(description: TargetDescription): Promise<PreflightFailure | undefined> {
  const started = performance.now();
  const stepTimeoutMs = description.limits?.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const failure = (step: string, error: unknown): PreflightFailure => ({
    target: description.name,
    step,
    reason: reasonOf(error),
    durationMs: Math.round(performance.now() - started),
  });
  const lease = await acquireTargetLease(description.lockDir, description.name, {
    timeoutMs: LEASE_TIMEOUT_MS,
  }).catch((error: unknown) => error as Error);
  if (lease instanceof Error) return failure('the target is free', lease);
  try {
    const connectStep = description.console ? `console ${description.console.port} opens` : 'drivers bind';
    let target: Target;
    try {
      // A console that opens after the deadline is closed again: nothing the preflight opened stays open.
      target = await withDeadline(
        stepTimeoutMs,
        () => connectTarget(description),
        (late) => late.dispose(),
      );
    } catch (error) {
      return failure(connectStep, error);
    }
    try {
      for (const step of stepsFor(target)) {
        try {
          await withDeadline(stepTimeoutMs, () => step.run(target));
        } catch (error) {
          return failure(step.name, error);
        }
      }
      return undefined;
    } finally {
      await target.dispose();
    }
  } finally {
    await lease.release();
  }
}

/** Preflights every target at once (they are different devices); the failures, in target order. */
export async function preflightTargets(
  descriptions: readonly TargetDescription[],
): Promise<PreflightFailure[]> {
  const outcomes = await Promise.all(descriptions.map((description) => preflightTarget(description)));
  return outcomes.filter((outcome): outcome is PreflightFailure => outcome !== undefined);
}

function stepsFor(target: Target): PreflightStep[] {
  const steps: PreflightStep[] = [];
  const power = target.power;
  if (power?.state) {
    const read = power.state.bind(power);
    steps.push({
      name: 'power switch answers',
      run: async () => {
        await read();
      },
    });
  }
  steps.push(...fingerprintsFor(target.description));
  return steps;
}

/**
 * A step that has not settled by the step timeout (plus a little for the driver's own timeout,
 * which says more, to fire first) fails with the timeout; the step's late answer is ignored.
 */
async function withDeadline<T>(
  timeoutMs: number,
  body: () => Promise<T>,
  onLate?: (value: T) => Promise<void>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StepTimeoutError(`no answer within ${timeoutMs} ms (the rig's step timeout)`)),
      timeoutMs + DEADLINE_GRACE_MS,
    );
  });
  const running = body();
  running.catch(() => {});
  try {
    return await Promise.race([running, deadline]);
  } catch (error) {
    if (error instanceof StepTimeoutError && onLate) running.then(onLate, () => {}).catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** How long after the step timeout the backstop fires: the drivers' own timeouts come first. */
const DEADLINE_GRACE_MS = 250;

function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error && !error.message.includes(error.cause.message);
  return cause ? `${error.message}: ${(error.cause as Error).message}` : error.message;
}
