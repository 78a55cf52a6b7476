import type { Evidence } from '../allure/allure-results.ts';
import { resultKey } from '../allure/allure-results.ts';
import { type ConformanceMatrix, cellAnchor, totalsOf, VERDICT } from './conformance-matrix.ts';
import { runFacts, targetFacts } from './run-facts.ts';

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/**
 * The matrix as Markdown: the run(s) and targets first (what was tested, with what, when), then
 * requirements × targets, each verdict linking to its evidence (the HTML page's section for it,
 * or the evidence file), then the failures with their Expected/Actual.
 */
export function matrixMarkdown(
  matrix: ConformanceMatrix,
  evidence: ReadonlyMap<string, readonly Evidence[]>,
  evidenceHref: (file: string) => string,
): string {
  const lines = ['# Conformance matrix', ''];
  for (const run of matrix.runs) {
    lines.push(`## Run ${run.runId}`, '', '| | |', '|---|---|');
    for (const [name, value] of runFacts(run)) lines.push(`| ${name} | ${cell(value)} |`);
    lines.push('');
  }
  const targets = matrix.runs.flatMap((run) => run.targets);
  if (targets.length > 0) {
    lines.push(
      '## Targets',
      '',
      '| target | kind | profile | chip | MAC | address | firmware | images sent (SHA-256) |',
    );
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const target of targets) {
      const facts = targetFacts(target);
      lines.push(
        `| ${[target.name, target.kind, target.profile, facts.chip, facts.mac, facts.address, facts.firmware, facts.images].map(cell).join(' | ')} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    '## Totals',
    '',
    '| target | pass | fail | skip | rig error | MUST failed |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const t of totalsOf(matrix))
    lines.push(`| ${t.target} | ${t.pass} | ${t.fail} | ${t.skip} | ${t.rigError} | ${t.mustFailed} |`);
  lines.push('', '## Requirements × targets', '');
  lines.push(`| requirement | level | ${matrix.targets.map(cell).join(' | ')} |`);
  lines.push(`|---|---|${matrix.targets.map(() => '---').join('|')}|`);
  for (const row of matrix.rows) {
    const cells = matrix.targets.map((target) => {
      const result = row.cells[target];
      if (!result) return '—';
      const files = evidence.get(resultKey(target, row.id)) ?? [];
      const link =
        result.outcome === 'pass' && files[0]
          ? evidenceHref(files[0].file)
          : `matrix.html#${cellAnchor(target, row.id)}`;
      return `[${VERDICT[result.outcome]}](${link})`;
    });
    lines.push(`| ${cell(row.id)} ${cell(row.text)} | ${row.level} | ${cells.join(' | ')} |`);
  }
  const notPassed = matrix.rows.flatMap((row) =>
    matrix.targets.flatMap((target) => {
      const result = row.cells[target];
      return result && result.outcome !== 'pass' ? [result] : [];
    }),
  );
  if (notPassed.length > 0) {
    lines.push('', '## Not passed', '');
    for (const result of notPassed) {
      lines.push(`### ${VERDICT[result.outcome]} ${result.id} on ${result.target}`, '');
      lines.push(`[${result.level}] ${result.text}  `, `Source: ${result.source}`, '');
      if (result.detail) lines.push('```', result.detail, '```', '');
      for (const file of evidence.get(resultKey(result.target, result.id)) ?? [])
        lines.push(`- [${file.name}](${evidenceHref(file.file)})`);
      lines.push('');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
