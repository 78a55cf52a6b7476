import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { KillMatrix } from './kill-matrix.ts';
import { PROJECT_ROOT } from './run-conformance.ts';

const CLI = fileURLToPath(new URL('../../bin/ota-conformance.js', import.meta.url));

/**
 * The proof that every check can fail: each profile's suites against its conforming emulator
 * and once per defect of the catalog (DESIGN.md, Defects). It runs the real CLI, as a user would.
 */
describe('kill matrix', () => {
  it('catches every defect by the requirements it names, gives every MUST a kill, passes the conforming emulators', async () => {
    const child = spawn(process.execPath, [CLI, 'kill-matrix', '--json'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    await once(child, 'exit');
    const matrix = JSON.parse(stdout.trim().split('\n').at(-1)!) as KillMatrix;
    expect(matrix.conformingFailures.map((r) => `${r.target} ${r.id}: ${r.detail}`)).toEqual([]);
    expect(matrix.survivors).toEqual([]);
    expect(matrix.missedNamed).toEqual([]);
    expect(matrix.toothless).toEqual([]);
    expect(matrix.defects.length).toBeGreaterThanOrEqual(40);
    expect(existsSync(join(PROJECT_ROOT, 'reports', 'out', 'kill-matrix.md'))).toBe(true);
    expect(readFileSync(join(PROJECT_ROOT, 'reports', 'out', 'kill-matrix.md'), 'utf8')).toContain(
      'Survivors: none',
    );
  }, 1_800_000);
});
