/** One benchmark's figures: a titled table, values with their units in the column names. */
export interface BenchReport {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  notes?: string[];
}

export function formatReport(report: BenchReport): string {
  const cells = [report.columns, ...report.rows.map((row) => row.map(formatCell))];
  const widths = report.columns.map((_, i) => Math.max(...cells.map((row) => String(row[i] ?? '').length)));
  const line = (row: (string | number)[]) =>
    `| ${row.map((cell, i) => String(cell).padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [
    `## ${report.title}`,
    '',
    line(report.columns),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
  ];
  for (const row of cells.slice(1)) out.push(line(row));
  for (const note of report.notes ?? []) out.push('', note);
  return `${out.join('\n')}\n`;
}

function formatCell(value: string | number): string {
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/** Median, p5 and p95 of a sample (nearest-rank). */
export function percentiles(values: readonly number[]): { median: number; p5: number; p95: number } {
  if (values.length === 0) throw new RangeError('percentiles of an empty sample');
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return { median: at(50), p5: at(5), p95: at(95) };
}
