import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LAYERS = [
  'bin',
  'suites',
  'drivers',
  'rigs',
  'reports',
  'bench',
  'fuzz',
  'fixtures',
  'emulators',
  'vocabulary',
];

function sourcesUnder(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** Every `import … from '<path>'` (and `export … from`) of a file: what it names and where from. */
function importsOf(file: string): { names: string; from: string }[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s+(?:type\s+)?([^'";]*?)\s+from\s+'([^']+)'/gms)].map(
    ([, names, from]) => ({ names: names!, from: from! }),
  );
}

const SHARED_WORDS = /\b(Profile|Platform|PROFILES|PLATFORMS|Level|codedError)\b/;

describe('the shared vocabulary sits below every layer (STYLE.md, where the house stands)', () => {
  it('vocabulary/ imports nothing but its own files', () => {
    for (const file of sourcesUnder('vocabulary').filter((name) => !name.endsWith('.test.ts')))
      for (const { from } of importsOf(file)) expect(from, `${file} imports ${from}`).toMatch(/^\.\/[^/]+$/);
  });

  it('no layer takes the shared words from another layer: profiles, platforms, levels and coded errors come from vocabulary/', () => {
    const offenders: string[] = [];
    for (const layer of LAYERS.filter((name) => name !== 'vocabulary'))
      for (const file of sourcesUnder(layer))
        for (const { names, from } of importsOf(file)) {
          if (!from.startsWith('.') || !SHARED_WORDS.test(names)) continue;
          const target = relative(ROOT, join(ROOT, file, '..', from)).split('/')[0];
          // Inside a layer, a folder may pass the words on (emulators/device/types.ts re-exports them).
          if (target !== 'vocabulary' && target !== layer)
            offenders.push(`${file}: { ${names.trim()} } from ${from}`);
        }
    expect(offenders).toEqual([]);
  });

  it('reports/ never imports from suites/ (a report reads results, not the framework that made them)', () => {
    // Its end-to-end tests start a whole run, which is suites/runner's to start.
    const sources = sourcesUnder('reports').filter((file) => !/\.test(-support)?\.ts$/.test(file));
    const offenders = sources.flatMap((file) =>
      importsOf(file)
        .filter(
          ({ from }) =>
            from.startsWith('.') && relative(ROOT, join(ROOT, file, '..', from)).startsWith('suites/'),
        )
        .map(({ from }) => `${file} imports ${from}`),
    );
    expect(offenders).toEqual([]);
  });
});
