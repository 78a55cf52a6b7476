import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The packages the installed CLI can load: every bare import reachable from its entry files by
 * following relative imports (static, re-exports and literal dynamic `import()`), type-only
 * imports left out since they vanish at run time. Returns each package with one file importing it.
 */
export function runtimePackages(root: string, entries: readonly string[]): Map<string, string> {
  const packages = new Map<string, string>();
  const seen = new Set<string>();
  const queue = entries.map((entry) => resolve(root, entry));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of runtimeSpecifiers(readFileSync(file, 'utf8'))) {
      if (specifier.startsWith('.')) {
        const target = resolveRelative(dirname(file), specifier);
        if (target !== undefined) queue.push(target);
      } else if (!isBuiltin(specifier)) {
        const name = packageName(specifier);
        if (!packages.has(name)) packages.set(name, relative(root, file));
      }
    }
  }
  return packages;
}

/** Module specifiers a source file loads at run time. */
export function runtimeSpecifiers(source: string): string[] {
  const specifiers: string[] = [];
  // `import … from 'x'` and `export … from 'x'`, except `import type` / `export type`.
  const fromClause = /(?:^|[;\n])\s*(import|export)\s+(type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g;
  for (const match of source.matchAll(fromClause)) if (match[2] === undefined) specifiers.push(match[3]!);
  // Side-effect imports and literal dynamic imports.
  for (const match of source.matchAll(/(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]/g)) specifiers.push(match[1]!);
  for (const match of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) specifiers.push(match[1]!);
  return specifiers;
}

/** Every file under `dir` (recursively) whose name ends with `suffix`. */
export function filesEndingWith(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith(suffix) && !name.includes('node_modules'))
    .map((name) => join(dir, name));
}

function resolveRelative(from: string, specifier: string): string | undefined {
  const base = resolve(from, specifier);
  for (const candidate of [base, `${base}.ts`, `${base}.js`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!);
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}
