import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConformanceResult } from './conformance-result.ts';
import { toJunitXml } from './junit.ts';
import type { RunFolder } from './run-folder.ts';
import { finishRunMetadata, type ImageSent, type RunMetadata } from './run-metadata.ts';

export const RUN_JSON = 'run.json';
export const JUNIT_XML = 'junit.xml';

/** Writes run.json: at the start (status running) and again when the run ends. */
export function writeRunJson(dir: string, metadata: RunMetadata): void {
  writeFileSync(join(dir, RUN_JSON), `${JSON.stringify(metadata, null, 2)}\n`);
}

export interface FinishedRun {
  metadata: RunMetadata;
  junit: string;
}

/**
 * What a run leaves when it ends, all in its own folder and each headed by the run's metadata:
 * run.json (complete), junit.xml. A run killed before this point leaves run.json saying
 * `running` and results.jsonl with what it finished, and no report that could pass for a whole run.
 */
export function writeRunReports(
  run: RunFolder,
  started: RunMetadata,
  results: readonly ConformanceResult[],
  exitCode: number,
): FinishedRun {
  const metadata = finishRunMetadata(started, imagesByTarget(results), exitCode);
  const junit = toJunitXml(results, metadata);
  writeFileSync(join(run.dir, JUNIT_XML), junit);
  writeRunJson(run.dir, metadata);
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
