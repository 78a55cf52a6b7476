import type { Level } from '../suites/framework/index.ts';
import type { ImageSent } from './run-metadata.ts';

export type Outcome = 'pass' | 'fail' | 'skip' | 'rig-error';

/** One requirement judged on one target: a line of results.jsonl. */
export interface ConformanceResult {
  target: string;
  id: string;
  level: Level;
  text: string;
  source: string;
  outcome: Outcome;
  /** Why it was skipped, or the failure (Expected/Actual), or the rig error. */
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
  /** MUST requirements that failed (or hit a rig error): these decide the exit code. */
  mustFailed: number;
  shouldFailed: number;
}

export function summarize(results: readonly ConformanceResult[]): TargetSummary[] {
  const byTarget = new Map<string, TargetSummary>();
  for (const result of results) {
    let summary = byTarget.get(result.target);
    if (!summary) {
      summary = {
        target: result.target,
        pass: 0,
        fail: 0,
        skip: 0,
        rigError: 0,
        mustFailed: 0,
        shouldFailed: 0,
      };
      byTarget.set(result.target, summary);
    }
    if (result.outcome === 'pass') summary.pass++;
    else if (result.outcome === 'skip') summary.skip++;
    else {
      if (result.outcome === 'fail') summary.fail++;
      else summary.rigError++;
      if (result.level === 'MUST') summary.mustFailed++;
      if (result.level === 'SHOULD') summary.shouldFailed++;
    }
  }
  return [...byTarget.values()].sort((a, b) => a.target.localeCompare(b.target));
}

/** 0 when every MUST passed (and every SHOULD with strict), 1 otherwise. */
export function exitCodeFor(summaries: readonly TargetSummary[], strict: boolean): 0 | 1 {
  const failed = summaries.some((s) => s.mustFailed > 0 || (strict && s.shouldFailed > 0));
  return failed ? 1 : 0;
}

export function formatSummaryTable(summaries: readonly TargetSummary[]): string {
  const header = ['target', 'pass', 'fail', 'skip', 'rig error', 'MUST failed'];
  const rows = summaries.map((s) => [s.target, s.pass, s.fail, s.skip, s.rigError, s.mustFailed].map(String));
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
