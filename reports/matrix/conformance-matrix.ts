import type { ConformanceResult, Outcome } from '../conformance-result.ts';
import type { RunMetadata } from '../run-metadata.ts';

/** One requirement's row: its verdict on every target of the run(s). */
export interface MatrixRow {
  id: string;
  level: ConformanceResult['level'];
  text: string;
  source: string;
  /** By target name; a target the requirement did not run on has no cell. */
  cells: Record<string, ConformanceResult>;
}

export interface ConformanceMatrix {
  runs: RunMetadata[];
  targets: string[];
  rows: MatrixRow[];
}

/** Requirements × targets, rows in ID order (numbers as numbers), targets by name. */
export function buildMatrix(
  runs: readonly RunMetadata[],
  results: readonly ConformanceResult[],
): ConformanceMatrix {
  const rows = new Map<string, MatrixRow>();
  const targets = new Set<string>();
  for (const result of results) {
    targets.add(result.target);
    let row = rows.get(result.id);
    if (!row) {
      row = { id: result.id, level: result.level, text: result.text, source: result.source, cells: {} };
      rows.set(result.id, row);
    }
    row.cells[result.target] = result;
  }
  return {
    runs: [...runs],
    targets: [...targets].sort(),
    rows: [...rows.values()].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true })),
  };
}

export const VERDICT: Record<Outcome, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  skip: 'SKIP',
  'rig-error': 'RIG ERROR',
  'not-run': 'NOT RUN',
};

/** The verdicts alone (what two shards merged must share with the unsharded run). */
export function verdictsOf(matrix: ConformanceMatrix): string[] {
  return matrix.rows.map(
    (row) =>
      `${row.id} [${row.level}] ${matrix.targets.map((t) => `${t}=${row.cells[t] ? VERDICT[row.cells[t].outcome] : '-'}`).join(' ')}`,
  );
}

/** An anchor for one cell's evidence, stable across runs. */
export function cellAnchor(target: string, id: string): string {
  return `r-${target}-${id}`.replace(/[^A-Za-z0-9_-]/g, '-');
}

export interface TargetTotals {
  target: string;
  pass: number;
  fail: number;
  skip: number;
  rigError: number;
  mustFailed: number;
}

export function totalsOf(matrix: ConformanceMatrix): TargetTotals[] {
  return matrix.targets.map((target) => {
    const cells = matrix.rows.flatMap((row) => (row.cells[target] ? [row.cells[target]] : []));
    const count = (outcome: Outcome) => cells.filter((c) => c.outcome === outcome).length;
    return {
      target,
      pass: count('pass'),
      fail: count('fail'),
      skip: count('skip'),
      rigError: count('rig-error'),
      // Device failures only: a rig error says nothing about the device (it has its own column).
      mustFailed: cells.filter((c) => c.level === 'MUST' && c.outcome === 'fail').length,
    };
  });
}
