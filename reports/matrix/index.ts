import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Evidence, readEvidence } from '../allure/allure-results.ts';
import type { ConformanceResult } from '../conformance-result.ts';
import type { RunMetadata } from '../run-metadata.ts';
import { buildMatrix, type ConformanceMatrix } from './conformance-matrix.ts';
import { matrixHtml } from './matrix-html.ts';
import { matrixMarkdown } from './matrix-markdown.ts';

export { buildMatrix, type ConformanceMatrix, cellAnchor, verdictsOf } from './conformance-matrix.ts';

export const MATRIX_HTML = 'matrix.html';
export const MATRIX_MD = 'matrix.md';

/** Writes matrix.html and matrix.md into `dir`, evidence linked into `evidenceDir` (an allure-results folder). */
export function writeMatrix(
  dir: string,
  runs: readonly RunMetadata[],
  results: readonly ConformanceResult[],
  evidence: ReadonlyMap<string, readonly Evidence[]>,
  evidenceDir: string,
): ConformanceMatrix {
  const matrix = buildMatrix(runs, results);
  const href = (file: string) => relative(dir, join(evidenceDir, file)).split('\\').join('/');
  writeFileSync(join(dir, MATRIX_MD), matrixMarkdown(matrix, evidence, href));
  writeFileSync(
    join(dir, MATRIX_HTML),
    matrixHtml(matrix, evidence, (e) => readEvidence(evidenceDir, e), href),
  );
  return matrix;
}
