import type { Level } from '../vocabulary/index.ts';
import type { ImageSent } from './run-metadata.ts';

/**
 * `not-run`: the requirement was selected but its target never got to it (the target's preflight
 * failed); it says nothing about the device and is kept apart from skips (a claim the target does
 * not make) and from rig errors (which are printed once, per target).
 */
export type Outcome = 'pass' | 'fail' | 'skip' | 'rig-error' | 'not-run';

/** One requirement judged on one target: a line of results.jsonl. */
export interface ConformanceResult {
  target: string;
  id: string;
  level: Level;
  text: string;
  source: string;
  outcome: Outcome;
  /** Why it was skipped or not run, or the failure (Expected/Actual), or the rig error. */
  detail?: string;
  durationMs: number;
  file: string;
  /** Images the harness sent to the target for this requirement (SHA-256, size, how). */
  images?: ImageSent[];
}

export interface TargetSummary {
  target: string;
  pass: number;
  fail: number;
  skip: number;
  rigError: number;
  notRun: number;
  /** MUST requirements the device failed: these (and only these) make the exit code 1. */
  mustFailed: number;
  shouldFailed: number;
}

/**
 * One summary per target. `targets` names every target of the run, so a target with no result at
 * all still gets its (empty) row: it ran nothing, and that is a verdict of its own.
 */
export function summarize(
  results: readonly ConformanceResult[],
  targets: readonly string[] = [],
): TargetSummary[] {
  const byTarget = new Map<string, TargetSummary>();
  const summaryOf = (target: string): TargetSummary => {
    let summary = byTarget.get(target);
    if (!summary) {
      summary = { target, pass: 0, fail: 0, skip: 0, rigError: 0, notRun: 0, mustFailed: 0, shouldFailed: 0 };
      byTarget.set(target, summary);
    }
    return summary;
  };
  for (const target of targets) summaryOf(target);
  for (const result of results) {
    const summary = summaryOf(result.target);
    if (result.outcome === 'pass') summary.pass++;
    else if (result.outcome === 'skip') summary.skip++;
    else if (result.outcome === 'not-run') summary.notRun++;
    else if (result.outcome === 'rig-error') summary.rigError++;
    else {
      summary.fail++;
      if (result.level === 'MUST') summary.mustFailed++;
      if (result.level === 'SHOULD') summary.shouldFailed++;
    }
  }
  return [...byTarget.values()].sort((a, b) => a.target.localeCompare(b.target));
}

/** A target on which no requirement got as far as a verdict on the device. */
export function ranNothing(summary: TargetSummary): boolean {
  return summary.pass + summary.fail === 0;
}

/** What a run's exit code means (`run --help` and README say the same). */
export const EXIT_CODES = {
  /** Every MUST passed (every SHOULD too with --strict) and every target ran at least one requirement. */
  passed: 0,
  /** The device failed a MUST (or a SHOULD with --strict). */
  deviceFailed: 1,
  /** Bad arguments or rig file, including a --grep or --only that selects nothing. */
  usage: 2,
  /** No device failure, but rig errors or a target on which nothing ran. */
  rigOrNothingRan: 3,
} as const;
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/**
 * 1 when the device failed a MUST (a SHOULD too with strict); else 3 when the rig failed anywhere
 * or a target ran nothing (a verdict nobody can act on is no pass); else 0.
 */
export function exitCodeFor(summaries: readonly TargetSummary[], strict: boolean): ExitCode {
  if (summaries.some((s) => s.mustFailed > 0 || (strict && s.shouldFailed > 0)))
    return EXIT_CODES.deviceFailed;
  if (summaries.length === 0) return EXIT_CODES.rigOrNothingRan;
  if (summaries.some((s) => s.rigError > 0 || ranNothing(s))) return EXIT_CODES.rigOrNothingRan;
  return EXIT_CODES.passed;
}

/**
 * The table at the end of a run. Device failures ("MUST failed") stand apart from what says
 * nothing about the device: rig errors, requirements not run, and a target that ran nothing.
 */
export function formatSummaryTable(summaries: readonly TargetSummary[]): string {
  const header = ['target', 'pass', 'fail', 'skip', 'MUST failed', 'rig error', 'not run', 'verdict'];
  const rows = summaries.map((s) =>
    [s.target, s.pass, s.fail, s.skip, s.mustFailed, s.rigError, s.notRun, verdictOf(s)].map(String),
  );
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function verdictOf(summary: TargetSummary): string {
  if (summary.mustFailed > 0) return 'device failed';
  if (ranNothing(summary)) return summary.rigError > 0 ? 'rig error, ran nothing' : 'ran nothing';
  if (summary.rigError > 0) return 'rig error';
  return summary.fail > 0 ? 'passed (SHOULD failed)' : 'passed';
}

/**
 * Skips and requirements not run, one line per target and reason with a count (the reason is
 * the same for every requirement a target lacks a capability for). With verbose the skips were
 * already printed one by one, so only what was not run is folded.
 */
export function formatFoldedOutcomes(
  results: readonly ConformanceResult[],
  options: { verbose: boolean },
): string {
  const groups = new Map<
    string,
    { mark: string; target: string; what: string; reason: string; count: number }
  >();
  for (const result of results) {
    if (result.outcome !== 'not-run' && (result.outcome !== 'skip' || options.verbose)) continue;
    const what = result.outcome === 'skip' ? 'skipped' : 'not run';
    const reason = result.detail ?? '';
    const key = `${result.target}\0${what}\0${reason}`;
    const group = groups.get(key) ?? {
      mark: result.outcome === 'skip' ? '-' : '·',
      target: result.target,
      what,
      reason,
      count: 0,
    };
    group.count++;
    groups.set(key, group);
  }
  return [...groups.values()]
    .map((g) => `${g.mark} ${g.target}  ${g.count} ${g.what}: ${g.reason.replace(/^not run: /, '')}`)
    .join('\n');
}
