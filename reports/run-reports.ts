import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAllureReport } from './allure/allure-report.ts';
import { normalizeAllureResults } from './allure/allure-results.ts';
import type { ConformanceResult } from './conformance-result.ts';
import { writeEvidenceIndex } from './evidence-index.ts';
import { toJunitXml } from './junit.ts';
import { writeMatrix } from './matrix/index.ts';
import { RESULTS_FILE } from './results-file.ts';
import type { RunFolder } from './run-folder.ts';
import { finishRunMetadata, type ImageSent, type RunMetadata } from './run-metadata.ts';

export const RUN_JSON = 'run.json';
export const JUNIT_XML = 'junit.xml';
export const ALLURE_RESULTS = 'allure-results';
export const ALLURE_REPORT = 'allure-report.html';
/** Allure's history, shared by every run under one --out root. */
export const ALLURE_HISTORY = 'allure-history.jsonl';

/** Writes run.json: at the start (status running) and again when the run ends. */
export function writeRunJson(dir: string, metadata: RunMetadata): void {
  writeFileSync(join(dir, RUN_JSON), `${JSON.stringify(metadata, null, 2)}\n`);
}

export interface FinishedRun {
  metadata: RunMetadata;
  junit: string;
}

export interface RunReportOptions {
  /** The target a test file's path names (a run's entry file), to place Allure's results. */
  targetOfPath: (path: string) => string | undefined;
  /** Generate the single-file Allure report (default true; the kill matrix skips it). */
  allureReport?: boolean;
  /** Told when a report could not be written (the run's verdict stands). */
  note?: (text: string) => void;
}

/**
 * What a run leaves when it ends, all in its own folder and each headed by the run's metadata:
 * run.json (complete), junit.xml, matrix.html and matrix.md, allure-report.html (one file that
 * opens from disk; history from the earlier runs of the same --out root). A run killed before
 * this point leaves run.json saying `running` and results.jsonl with what it finished, and no
 * report that could pass for a whole run.
 */
export async function writeRunReports(
  run: RunFolder,
  started: RunMetadata,
  results: readonly ConformanceResult[],
  exitCode: number,
  options: RunReportOptions,
): Promise<FinishedRun> {
  const metadata = finishRunMetadata(started, imagesByTarget(results), exitCode);
  const junit = toJunitXml(results, metadata);
  writeFileSync(join(run.dir, JUNIT_XML), junit);
  writeRunJson(run.dir, metadata);
  rewriteResultsHead(run.dir, metadata);
  const allureDir = join(run.dir, ALLURE_RESULTS);
  const evidence = normalizeAllureResults(allureDir, results, options.targetOfPath);
  writeEvidenceIndex(run.dir, evidence);
  writeMatrix(run.dir, [metadata], results, evidence, allureDir);
  if (options.allureReport ?? true) {
    try {
      await writeAllureReport({
        resultsDirs: [allureDir],
        file: join(run.dir, ALLURE_REPORT),
        historyFile: join(run.root, ALLURE_HISTORY),
        metadata,
      });
    } catch (error) {
      options.note?.(`the Allure report could not be written: ${(error as Error).message}`);
    }
  }
  return { metadata, junit };
}

function imagesByTarget(results: readonly ConformanceResult[]): Map<string, ImageSent[]> {
  const byTarget = new Map<string, ImageSent[]>();
  for (const result of results) {
    if (!result.images?.length) continue;
    byTarget.set(result.target, [...(byTarget.get(result.target) ?? []), ...result.images]);
  }
  return byTarget;
}

/**
 * Once the run is complete, results.jsonl's first line becomes the finished metadata (status,
 * exit code, images sent), replaced whole by a rename so no reader ever sees a partial file.
 */
function rewriteResultsHead(dir: string, metadata: RunMetadata): void {
  const file = join(dir, RESULTS_FILE);
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[0] = JSON.stringify(metadata);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, lines.join('\n'));
  renameSync(temporary, file);
}
