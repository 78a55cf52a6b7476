import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, runConformance } from './run-conformance.ts';
import { writeViperhttpRig } from './viperhttp-rig.test-support.ts';

/** A suites folder of its own: one suite file that loads and one that throws while loading. */
function suitesWithABrokenFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'run-suites-'));
  mkdirSync(join(dir, 'viperhttp'));
  const framework = join(PROJECT_ROOT, 'suites', 'framework', 'index.ts');
  writeFileSync(
    join(dir, 'viperhttp', 'a-loads.suite.ts'),
    [
      `import { requirement } from ${JSON.stringify(framework)};`,
      "requirement('viperhttp/probe/1', 'MUST', 'the target answers', { source: 'test' }, async (context) => {",
      "  context.check(context.target.name === 'viperhttp', 'the viperhttp target', context.target.name);",
      '});',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'viperhttp', 'b-broken.suite.ts'), "throw new Error('broken on purpose');\n");
  return dir;
}

describe('runConformance', () => {
  it('reports a suite file that does not load as a rig error of its target and exits 3, keeping the other suites', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-out-'));
    const rig = writeViperhttpRig(dir, 'broken-suite', [{ name: 'viperhttp' }], {
      env: 'RUN_TEST_TOKEN',
      default: 'run-test-token',
    });
    const lines: string[] = [];
    const outcome = await runConformance({
      rig,
      outDir: join(dir, 'out'),
      suitesDir: suitesWithABrokenFile(),
      write: (text) => lines.push(text),
    });
    expect(outcome.exitCode).toBe(3);
    const broken = outcome.results.find((result) => result.outcome === 'rig-error');
    expect(broken?.target).toBe('viperhttp');
    expect(broken?.detail).toMatch(
      /suite file \S+\/viperhttp\/b-broken\.suite\.ts does not load: broken on purpose/,
    );
    expect(outcome.results.find((result) => result.id === 'viperhttp/probe/1')?.outcome).toBe('pass');
    const written = readFileSync(join(outcome.run.dir, 'results.jsonl'), 'utf8');
    expect(written).toContain('broken on purpose');
    expect(lines.join('')).toContain('broken on purpose');
  }, 60_000);
});
