/**
 * `npm run bench [-- <filter>]`: runs every `*.bench.ts` of the project (beside the code it
 * measures), one after the other so they do not disturb each other, and prints each report's
 * table. Benchmarks measure; they never pass or fail.
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BenchReport, formatReport } from './report.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const FOLDERS = ['bin', 'drivers', 'emulators', 'fixtures', 'reports', 'suites', 'bench'];

async function findBenchFiles(folder: string): Promise<string[]> {
  const found: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') found.push(...(await findBenchFiles(path)));
    else if (entry.isFile() && entry.name.endsWith('.bench.ts')) found.push(path);
  }
  return found;
}

const filter = process.argv[2];
const files = (await Promise.all(FOLDERS.map((folder) => findBenchFiles(join(ROOT, folder)))))
  .flat()
  .filter((file) => !filter || relative(ROOT, file).includes(filter))
  .sort();
if (files.length === 0) {
  process.stderr.write(`bench: no *.bench.ts file matches '${filter ?? ''}'\n`);
  process.exit(2);
}
for (const file of files) {
  process.stdout.write(`\n# ${relative(ROOT, file)}\n`);
  const module = (await import(pathToFileURL(file).href)) as { default: () => Promise<BenchReport[]> };
  for (const report of await module.default()) process.stdout.write(`${formatReport(report)}\n`);
}
