import { inject } from 'vitest';
import type { TargetDescription } from '../../drivers/target/index.ts';
import { collectingTarget, currentTargetName } from './target-context.ts';

/** One target of a run as the test files receive it (vitest `provide`, key `targets`). */
export interface ProvidedTarget {
  /** Resolved rig entry plus the endpoints the run started for it. */
  description: TargetDescription;
  /** The suite files its entry file loads, in order. */
  suiteFiles: { relative: string; absolute: string }[];
  /** Only these requirement IDs run on the target (`run --rerun-failed`); absent: all of them. */
  requirementIds?: string[];
  /**
   * Set when the target's preflight failed: its requirements are reported as not run, with this
   * reason, and the target is not touched again (the rig error was reported once, by the run).
   */
  notRun?: string;
}

declare module 'vitest' {
  interface ProvidedContext {
    /** Every target of the run by name; each test file runs against one of them. */
    targets: Record<string, ProvidedTarget>;
  }
}

/**
 * Called by a run's entry file for each of its targets before it loads that target's suite files:
 * the code they run while they are collected is that target's.
 */
export function selectTarget(name: string): ProvidedTarget {
  const provided = inject('targets')?.[name];
  if (provided === undefined) throw new Error(`the run provided no target named ${name}`);
  collectingTarget(name);
  return provided;
}

function provided(): ProvidedTarget | undefined {
  const name = currentTargetName();
  return name === undefined ? undefined : inject('targets')[name];
}

/** The target the code running now belongs to; undefined when the suites are only listed. */
export function currentTarget(): TargetDescription | undefined {
  return provided()?.description;
}

/**
 * Whether the run selected this requirement for the current target: every requirement, unless
 * the run re-runs only some (`--rerun-failed`); outside a run, every one.
 */
export function requirementSelected(id: string): boolean {
  if (currentTargetName() === undefined) return true;
  const ids = provided()?.requirementIds;
  return ids === undefined || ids.includes(id);
}

/** Why the current target is not run (its preflight failed), or undefined when it is. */
export function currentTargetNotRun(): string | undefined {
  return provided()?.notRun;
}
