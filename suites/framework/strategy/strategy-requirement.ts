import { test } from 'vitest';
import { currentTarget } from '../current-target.ts';
import { type RequirementMeta, requirement } from '../requirement.ts';
import { updateSupport } from './update-target.ts';

/**
 * What every strategy requirement needs besides its own: the strategy reads which image boots
 * from the console (observe.ts requireConsole), so a target without one is skipped naming it
 * rather than failing half-way with a rig error.
 */
const STRATEGY_NEEDS = ['console'] as const;

/**
 * `requirement` for suites that update the target through the strategy: on a target whose
 * profile the strategy cannot update yet, the requirement is reported as skipped with that
 * reason (a known gap of the harness, like a capability the rig does not claim) instead of a
 * rig error on every run. Listing (no target) declares it as usual.
 */
export const strategyRequirement: typeof requirement = (id, level, text, declared, body) => {
  const options = { ...declared, needs: [...new Set([...STRATEGY_NEEDS, ...(declared.needs ?? [])])] };
  const profile = currentTarget()?.profile;
  const support = profile === undefined ? { supported: true as const } : updateSupport({ profile });
  if (support.supported) {
    requirement(id, level, text, options, body);
    return;
  }
  const meta: RequirementMeta = { id, level, text, source: options.source, needs: options.needs ?? [] };
  test(`${id} ${text}`, { meta: { requirement: meta } }, ({ skip }) => {
    skip(`the update strategy does not support the ${profile} profile yet: ${support.reason}`);
  });
};
