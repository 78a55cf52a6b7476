import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAllureReport } from '../allure/allure-report.ts';
import { type Evidence, resultKey } from '../allure/allure-results.ts';
import { resolveRunFolder } from '../bundle/vendor-bundle.ts';
import { type ConformanceResult, type ExitCode, exitCodeFor, summarize } from '../conformance-result.ts';
import { readEvidenceIndex, writeEvidenceIndex } from '../evidence-index.ts';
import { toJunitXml } from '../junit.ts';
import { type ConformanceMatrix, writeMatrix } from '../matrix/index.ts';
import { RESULTS_FILE, readResultsFile } from '../results-file.ts';
import { openRunFolder, type RunFolder } from '../run-folder.ts';
import type { RunMetadata } from '../run-metadata.ts';
import { ALLURE_HISTORY, ALLURE_REPORT, ALLURE_RESULTS, JUNIT_XML, writeRunJson } from '../run-reports.ts';

export interface MergedRuns {
  run: RunFolder;
  metadata: RunMetadata;
  results: ConformanceResult[];
  matrix: ConformanceMatrix;
  exitCode: ExitCode;
  /** What the merge noticed (a requirement reported by two runs: the later one is kept). */
  notes: string[];
}

/**
 * Many benches, one report: the results of several runs (the shards of one rig, or runs of
 * different benches) become one run folder of their own — results.jsonl, JUnit, one matrix and one
 * Allure report. Allure merges by reading every run's results (its own multi-directory
 * generation); the results themselves come from each run's results.jsonl, which also holds what
 * vitest never saw (targets that did not start), so vitest's blob merge has nothing to add.
 */
export async function mergeRuns(
  dirs: readonly string[],
  options: { out: string; argv?: readonly string[]; allureReport?: boolean },
): Promise<MergedRuns> {
  const runs = dirs.map((dir) => {
    const folder = resolveRunFolder(dir);
    const { metadata, results } = readResultsFile(join(folder, RESULTS_FILE));
    const finished = JSON.parse(readFileSync(join(folder, 'run.json'), 'utf8')) as RunMetadata;
    return { folder, metadata: finished ?? metadata, results };
  });
  const notes: string[] = [];
  const byKey = new Map<string, ConformanceResult>();
  const evidence = new Map<string, Evidence[]>();
  const run = openRunFolder(options.out, { suffix: 'merged' });
  const allureDir = join(run.dir, ALLURE_RESULTS);
  mkdirSync(allureDir, { recursive: true });
  for (const { folder, metadata, results } of [...runs].sort((a, b) =>
    a.metadata.startedAt.localeCompare(b.metadata.startedAt),
  )) {
    const runEvidence = readEvidenceIndex(folder);
    for (const result of results) {
      const key = resultKey(result.target, result.id);
      if (byKey.has(key))
        notes.push(`${result.id} on ${result.target} is in more than one run; kept run ${metadata.runId}'s`);
      byKey.set(key, result);
      evidence.set(key, runEvidence.get(key) ?? []);
    }
    const source = join(folder, ALLURE_RESULTS);
    if (existsSync(source))
      for (const name of readdirSync(source)) cpSync(join(source, name), join(allureDir, name));
  }
  const results = [...byKey.values()];
  const exitCode = exitCodeFor(summarize(results), false);
  const metadata = mergedMetadata(
    run,
    runs.map((r) => r.metadata),
    options.argv ?? process.argv,
    exitCode,
  );
  writeFileSync(
    join(run.dir, RESULTS_FILE),
    [metadata, ...results]
      .map((line) => JSON.stringify(line))
      .join('\n')
      .concat('\n'),
  );
  writeFileSync(join(run.dir, JUNIT_XML), toJunitXml(results, metadata));
  writeRunJson(run.dir, metadata);
  writeEvidenceIndex(run.dir, evidence);
  const matrix = writeMatrix(
    run.dir,
    runs.map((r) => r.metadata),
    results,
    evidence,
    allureDir,
  );
  if (options.allureReport ?? true) {
    await writeAllureReport({
      resultsDirs: [allureDir],
      file: join(run.dir, ALLURE_REPORT),
      historyFile: join(run.root, ALLURE_HISTORY),
      metadata,
    });
  }
  return { run, metadata, results, matrix, exitCode, notes };
}

function mergedMetadata(
  run: RunFolder,
  runs: readonly RunMetadata[],
  argv: readonly string[],
  exitCode: number,
): RunMetadata {
  const first = runs[0]!;
  const seeds = Object.assign({}, ...runs.map((r) => r.seeds)) as Record<string, number>;
  return {
    ...first,
    runId: run.id,
    startedAt: runs.map((r) => r.startedAt).sort()[0]!,
    finishedAt: runs
      .map((r) => r.finishedAt ?? r.startedAt)
      .sort()
      .at(-1)!,
    status: 'complete',
    pid: process.pid,
    exitCode,
    command: [...argv],
    cwd: process.cwd(),
    selection: {},
    seeds,
    targets: runs.flatMap((r) => r.targets),
    mergedFrom: runs.map((r) => r.runId),
  };
}
