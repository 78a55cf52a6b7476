import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FuzzTarget } from './fuzz-target.ts';

export const ROOT = new URL('..', import.meta.url).pathname;
const FOLDERS = ['bin', 'drivers', 'emulators', 'fixtures', 'reports', 'rigs', 'suites'];

async function fuzzFiles(folder: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') found.push(...(await fuzzFiles(path)));
    else if (entry.isFile() && entry.name.endsWith('.fuzz.ts')) found.push(path);
  }
  return found;
}

/** Every `*.fuzz.ts` of the project, with its targets, sorted by file. */
export async function findFuzzTargets(): Promise<{ file: string; target: FuzzTarget }[]> {
  const files = (await Promise.all(FOLDERS.map((folder) => fuzzFiles(join(ROOT, folder))))).flat().sort();
  const found: { file: string; target: FuzzTarget }[] = [];
  for (const file of files) {
    const module = (await import(pathToFileURL(file).href)) as { fuzzTargets?: FuzzTarget[] };
    for (const target of module.fuzzTargets ?? []) found.push({ file: relative(ROOT, file), target });
  }
  return found;
}
