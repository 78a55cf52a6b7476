import { join } from 'node:path';
import { createVitest } from 'vitest/node';
import type { RequirementMeta } from '../framework/index.ts';
import { PROJECT_ROOT } from './run-conformance.ts';

/**
 * Every requirement the suites declare, read by collecting the suite files without running a
 * test (no target is contacted). Sorted by ID; `grep` keeps those whose ID starts with it.
 */
export async function listRequirements(
  options: { grep?: string; suitesDir?: string } = {},
): Promise<RequirementMeta[]> {
  const suitesDir = options.suitesDir ?? join(PROJECT_ROOT, 'suites');
  const vitest = await createVitest(
    'test',
    { config: false, root: PROJECT_ROOT, watch: false, passWithNoTests: true, reporters: [] },
    {
      test: {
        include: [join(suitesDir, '**/*.suite.ts')],
        setupFiles: ['allure-vitest/setup'],
        // Collecting only declares tests: one worker that loads the shared modules once reads
        // every suite file, instead of a fresh process per file.
        pool: 'threads',
        isolate: false,
        maxWorkers: 1,
      },
    },
  );
  try {
    const { testModules } = await vitest.collect();
    const found: RequirementMeta[] = [];
    for (const module of testModules) {
      for (const testCase of module.children.allTests()) {
        const meta = testCase.meta().requirement;
        if (meta && (!options.grep || meta.id.startsWith(options.grep))) found.push(meta);
      }
    }
    return found.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  } finally {
    await vitest.close();
  }
}
