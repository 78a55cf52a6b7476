import { type Evidence, resultKey } from '../allure/allure-results.ts';
import type { ConformanceResult } from '../conformance-result.ts';
import { sourceLinks } from '../source-links.ts';
import { type ConformanceMatrix, cellAnchor, totalsOf, VERDICT } from './conformance-matrix.ts';
import { runFacts, targetFacts } from './run-facts.ts';

const escapeHtml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** Evidence beyond this is cut (the whole file stays beside the page and in the bundle). */
const EVIDENCE_LIMIT = 64 * 1024;

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #d0d5dd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7}td.v{text-align:center;font-weight:600;white-space:nowrap}
.pass{background:#dcfae6}.fail{background:#fee4e2}.skip{background:#f2f4f7;color:#475467}.rig-error{background:#fef0c7}
pre{background:#f8f9fb;border:1px solid #e4e7ec;padding:8px;white-space:pre-wrap;word-break:break-word;max-height:40em;overflow:auto}
section.result{border-top:2px solid #d0d5dd;margin-top:16px}code{font-size:13px}`;

/**
 * The matrix as one self-contained HTML page (inline style, no script, nothing fetched): the
 * run(s) and targets, totals, requirements × targets with each verdict linking to its evidence,
 * and for every result that did not pass its Expected/Actual, source links and evidence inline.
 */
export function matrixHtml(
  matrix: ConformanceMatrix,
  evidence: ReadonlyMap<string, readonly Evidence[]>,
  readEvidence: (evidence: Evidence) => string,
  evidenceHref: (file: string) => string,
): string {
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">',
    '<title>Conformance matrix</title>',
    `<style>${STYLE}</style></head><body>`,
    '<h1>Conformance matrix</h1>',
  ];
  for (const run of matrix.runs) {
    out.push(`<h2>Run ${escapeHtml(run.runId)}</h2><table>`);
    for (const [name, value] of runFacts(run))
      out.push(`<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(value)}</td></tr>`);
    out.push('</table>');
  }
  const targets = matrix.runs.flatMap((run) => run.targets);
  if (targets.length > 0) {
    out.push(
      '<h2>Targets</h2><table><tr><th>target</th><th>kind</th><th>profile</th><th>chip</th><th>MAC</th><th>address</th><th>firmware</th><th>images sent (SHA-256)</th></tr>',
    );
    for (const target of targets) {
      const facts = targetFacts(target);
      const cells = [
        target.name,
        target.kind,
        target.profile,
        facts.chip,
        facts.mac,
        facts.address,
        facts.firmware,
      ];
      out.push(
        `<tr>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}<td><code>${escapeHtml(facts.images)}</code></td></tr>`,
      );
    }
    out.push('</table>');
  }
  out.push(
    '<h2>Totals</h2><table><tr><th>target</th><th>pass</th><th>fail</th><th>skip</th><th>rig error</th><th>MUST failed</th></tr>',
  );
  for (const t of totalsOf(matrix))
    out.push(
      `<tr><td>${escapeHtml(t.target)}</td><td>${t.pass}</td><td>${t.fail}</td><td>${t.skip}</td><td>${t.rigError}</td><td>${t.mustFailed}</td></tr>`,
    );
  out.push('</table>');
  out.push(
    `<h2>Requirements × targets</h2><table id="matrix"><tr><th>requirement</th><th>level</th>${matrix.targets.map((t) => `<th>${escapeHtml(t)}</th>`).join('')}</tr>`,
  );
  for (const row of matrix.rows) {
    const cells = matrix.targets.map((target) => {
      const result = row.cells[target];
      if (!result) return '<td class="v">—</td>';
      const files = evidence.get(resultKey(target, row.id)) ?? [];
      const href =
        result.outcome === 'pass'
          ? files[0]
            ? evidenceHref(files[0].file)
            : undefined
          : `#${cellAnchor(target, row.id)}`;
      const verdict = VERDICT[result.outcome];
      return `<td class="v ${result.outcome}">${href ? `<a href="${escapeHtml(href)}">${verdict}</a>` : verdict}</td>`;
    });
    out.push(
      `<tr><td><code>${escapeHtml(row.id)}</code> ${escapeHtml(row.text)}<br><small>${sourceHtml(row.source)}</small></td><td>${row.level}</td>${cells.join('')}</tr>`,
    );
  }
  out.push('</table>');
  const notPassed = matrix.rows.flatMap((row) =>
    matrix.targets.flatMap((target) => {
      const result = row.cells[target];
      return result && result.outcome !== 'pass' ? [result] : [];
    }),
  );
  if (notPassed.length > 0) out.push('<h2>Not passed</h2>');
  for (const result of notPassed) out.push(resultSection(result, evidence, readEvidence, evidenceHref));
  out.push('</body></html>');
  return `${out.join('\n')}\n`;
}

function resultSection(
  result: ConformanceResult,
  evidence: ReadonlyMap<string, readonly Evidence[]>,
  readEvidence: (evidence: Evidence) => string,
  evidenceHref: (file: string) => string,
): string {
  const files = evidence.get(resultKey(result.target, result.id)) ?? [];
  const parts = [
    `<section class="result ${result.outcome}-section" id="${cellAnchor(result.target, result.id)}">`,
    `<h3><span class="${result.outcome}">${VERDICT[result.outcome]}</span> <code>${escapeHtml(result.id)}</code> on ${escapeHtml(result.target)}</h3>`,
    `<p>[${result.level}] ${escapeHtml(result.text)}</p>`,
    `<p class="source">Source: ${sourceHtml(result.source)}</p>`,
    `<pre class="detail">${escapeHtml(result.detail ?? '')}</pre>`,
  ];
  for (const file of files) {
    const text = readEvidence(file);
    const shown =
      text.length > EVIDENCE_LIMIT
        ? `${text.slice(0, EVIDENCE_LIMIT)}\n… (cut; the whole file follows the link)`
        : text;
    parts.push(
      `<details open class="evidence"><summary>${escapeHtml(file.name)} (<a href="${escapeHtml(evidenceHref(file.file))}">file</a>)</summary><pre>${escapeHtml(shown)}</pre></details>`,
    );
  }
  parts.push('</section>');
  return parts.join('\n');
}

/**
 * The source text with each URL and protocol note it names as a link, then the upstream sources of
 * the note sections it cites.
 */
function sourceHtml(source: string): string {
  let html = escapeHtml(source);
  const upstream: string[] = [];
  for (const link of sourceLinks(source, { docs: true })) {
    const shown = escapeHtml(link.url);
    if (source.includes(link.url)) html = html.replace(shown, `<a href="${shown}">${shown}</a>`);
    else upstream.push(`<a href="${shown}">${escapeHtml(link.name)}</a>`);
  }
  return upstream.length ? `${html} — upstream: ${upstream.join(', ')}` : html;
}
