import { inject } from 'vitest';
import type { TargetDescription } from '../../drivers/target/index.ts';

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

let selected: string | undefined;

/**
 * Called by a run's entry file for its target before it loads the suite files (each entry file
 * runs in a worker of its own, so this is the target of every suite that worker loads).
 */
export function selectTarget(name: string): ProvidedTarget {
  const provided = inject('targets')?.[name];
  if (provided === undefined) throw new Error(`the run provided no target named ${name}`);
  selected = name;
  return provided;
}

/** The target the suites of this worker run against; undefined when they are only listed. */
export function currentTarget(): TargetDescription | undefined {
  return selected === undefined ? undefined : inject('targets')[selected]?.description;
}

/**
 * Whether the run selected this requirement for the target of this worker: every requirement,
 * unless the run re-runs only some (`--rerun-failed`); outside a run, every one.
 */
export function requirementSelected(id: string): boolean {
  if (selected === undefined) return true;
  const ids = inject('targets')[selected]?.requirementIds;
  return ids === undefined || ids.includes(id);
}

/** Why this worker's target is not run (its preflight failed), or undefined when it is. */
export function currentTargetNotRun(): string | undefined {
  return selected === undefined ? undefined : inject('targets')[selected]?.notRun;
}
