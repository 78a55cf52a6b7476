import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runConformance } from './run-conformance.ts';

/*
 * A requirement is skipped naming what the target lacks, never run into a rig error half-way:
 * rollback/pending/1 reads the boot from the console (the update strategy does), so a target with
 * a power switch and rollback but no console skips it naming the console; with the console
 * claimed too, it runs and passes (the acceptance twin).
 */
async function pendingOn(capabilities: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'needs-'));
  const rig = join(dir, 'rig.json');
  writeFileSync(
    rig,
    JSON.stringify({
      name: 'needs',
      targets: [
        {
          name: 'viperhttp',
          kind: 'emulator',
          profile: 'viperhttp',
          platform: 'esp32',
          capabilities,
          token: { env: 'NEEDS_TEST_TOKEN', default: 'needs-test-token' },
        },
      ],
    }),
  );
  const lines: string[] = [];
  const outcome = await runConformance({
    rig,
    grep: 'rollback/pending/1',
    outDir: join(dir, 'out'),
    write: (text) => lines.push(text),
  });
  return { outcome, output: lines.join('') };
}

describe('needs', () => {
  it('skips rollback/pending/1 naming the console on a target with power and rollback but no console (exit 3: nothing ran)', async () => {
    const { outcome, output } = await pendingOn(['power-cycle', 'rollback']);
    expect(
      outcome.results.map((r) => [r.id, r.outcome, r.detail]),
      output,
    ).toEqual([['rollback/pending/1', 'skip', 'target viperhttp does not claim console']]);
    expect(outcome.exitCode).toBe(3);
  }, 120_000);

  it('runs it, and it passes, once the console is claimed too', async () => {
    const { outcome, output } = await pendingOn(['console', 'power-cycle', 'rollback']);
    expect(
      outcome.results.map((r) => [r.id, r.outcome]),
      output,
    ).toEqual([['rollback/pending/1', 'pass']]);
    expect(outcome.exitCode).toBe(0);
  }, 120_000);
});
