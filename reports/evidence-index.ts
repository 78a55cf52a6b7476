import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Evidence, resultKey } from './allure/allure-results.ts';

/** Which evidence files (in allure-results/) belong to which requirement on which target. */
export const EVIDENCE_JSON = 'evidence.json';

interface EvidenceEntry {
  target: string;
  id: string;
  files: Evidence[];
}

export function writeEvidenceIndex(dir: string, evidence: ReadonlyMap<string, readonly Evidence[]>): void {
  const entries: EvidenceEntry[] = [...evidence].map(([key, files]) => {
    const [target, id] = key.split('\u0000') as [string, string];
    return { target, id, files: [...files] };
  });
  writeFileSync(join(dir, EVIDENCE_JSON), `${JSON.stringify(entries, null, 1)}\n`);
}

/** The evidence index of a run folder (empty for a run that did not finish). */
export function readEvidenceIndex(dir: string): Map<string, Evidence[]> {
  const file = join(dir, EVIDENCE_JSON);
  if (!existsSync(file)) return new Map();
  const entries = JSON.parse(readFileSync(file, 'utf8')) as EvidenceEntry[];
  return new Map(entries.map((entry) => [resultKey(entry.target, entry.id), entry.files]));
}
