import { readFileSync } from 'node:fs';
import type { ConformanceResult } from './conformance-result.ts';
import type { RunMetadata } from './run-metadata.ts';

/** The name of a run's result lines in its folder. */
export const RESULTS_FILE = 'results.jsonl';

export interface ResultsFile {
  /** The first line: what the run was (undefined for a file written before runs described themselves). */
  metadata?: RunMetadata;
  results: ConformanceResult[];
}

/**
 * Reads a results.jsonl: the run's metadata first, then one requirement per line. A last line cut
 * short by a killed run is dropped (every line before it was complete when it was appended).
 */
export function readResultsFile(file: string): ResultsFile {
  const lines = readFileSync(file, 'utf8').split('\n');
  const parsed: unknown[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      parsed.push(JSON.parse(line));
    } catch (error) {
      if (index < lines.length - 1 && lines.slice(index + 1).some((rest) => rest.trim() !== ''))
        throw new Error(`${file}:${index + 1}: not a JSON line: ${(error as Error).message}`);
    }
  });
  const first = parsed[0] as { kind?: unknown } | undefined;
  const metadata = first?.kind === 'ota-conformance-run' ? (first as RunMetadata) : undefined;
  return { metadata, results: (metadata ? parsed.slice(1) : parsed) as ConformanceResult[] };
}
