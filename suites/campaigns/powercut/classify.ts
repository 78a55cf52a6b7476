import { describeBoot, type SeenBoot } from '../../framework/strategy/index.ts';
import type { Outcome } from './cut-point.ts';

/** Boots after power-on, beyond the first that names an app, that make it a reset loop. */
const LOOP_RESETS = 2;

/**
 * The ESP-IDF bootloader's words when the boot selection failed and it fell back
 * (bootloader_utility.c, reference/esp-idf.md §3.4 and §7.2): otadata with no valid entry, a
 * selected slot that does not boot, or both entries blank on a chip whose factory app cannot run.
 */
const FALLBACK_LINES = [
  /ota data partition invalid/,
  /OTA app partition slot \d+ is not bootable/,
  /Factory app partition is not bootable/,
  /otadata\[0\.\.1\] in initial state/,
  /No factory image, trying OTA 0/,
];

/**
 * What the device runs after a cut, from the boots the console showed once power returned and
 * those of the update before the cut: no boot that names an app is `no-boot`; an app that keeps
 * resetting is `broken`; a boot the bootloader reached only by falling back is `wrong-boot`;
 * otherwise the last app named decides, `rolled-back` when it is the old image although the new
 * one had started booting (its restart before the cut, or a boot of it after power-on).
 */
export function classifyBoots(
  after: readonly SeenBoot[],
  before: readonly SeenBoot[],
  versions: { old: string; new: string },
  /** The rig knows the chip had restarted into the update before the cut (an emulator's trace). */
  restarted = false,
): { outcome: Outcome; evidence: string } {
  const evidence = after.length === 0 ? 'the console showed no boot' : after.map(describeBoot).join('; ');
  const named = after.filter((boot) => boot.version !== undefined);
  if (named.length === 0) return { outcome: 'no-boot', evidence };
  const firstNamed = after.indexOf(named[0]!);
  if (after.length - firstNamed - 1 >= LOOP_RESETS) return { outcome: 'broken', evidence };
  const fallback = after
    .flatMap((boot) => boot.lines)
    .find((line) => FALLBACK_LINES.some((pattern) => pattern.test(line)));
  if (fallback !== undefined)
    return { outcome: 'wrong-boot', evidence: `${evidence}; the bootloader fell back: ${fallback.trim()}` };
  const final = named.at(-1)!.version!;
  if (final === versions.new) return { outcome: 'new', evidence };
  if (final !== versions.old)
    return { outcome: 'wrong-boot', evidence: `${evidence}; neither the old nor the new image` };
  const newStarted =
    restarted || before.some((boot) => boot.software) || named.some((boot) => boot.version === versions.new);
  return { outcome: newStarted ? 'rolled-back' : 'old', evidence };
}
