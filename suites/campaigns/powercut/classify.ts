import { describeBoot, type SeenBoot } from '../../framework/strategy/index.ts';
import type { Outcome } from './cut-point.ts';

/** Boots after power-on, beyond the first that names an app, that make it a reset loop. */
const LOOP_RESETS = 2;

/**
 * What the device runs after a cut, from the boots the console showed once power returned and
 * those of the update before the cut: no boot that names an app is `no-boot`; an app that keeps
 * resetting is `broken`; otherwise the last app named decides, `rolled-back` when it is the old
 * image although the new one had started booting (its restart before the cut, or a boot of it
 * after power-on).
 */
export function classifyBoots(
  after: readonly SeenBoot[],
  before: readonly SeenBoot[],
  versions: { old: string; new: string },
): { outcome: Outcome; evidence: string } {
  const evidence = after.length === 0 ? 'the console showed no boot' : after.map(describeBoot).join('; ');
  const named = after.filter((boot) => boot.version !== undefined);
  if (named.length === 0) return { outcome: 'no-boot', evidence };
  const firstNamed = after.indexOf(named[0]!);
  if (after.length - firstNamed - 1 >= LOOP_RESETS) return { outcome: 'broken', evidence };
  const final = named.at(-1)!.version!;
  if (final === versions.new) return { outcome: 'new', evidence };
  if (final !== versions.old) return { outcome: 'other-image', evidence };
  const newStarted =
    before.some((boot) => boot.software) || named.some((boot) => boot.version === versions.new);
  return { outcome: newStarted ? 'rolled-back' : 'old', evidence };
}
