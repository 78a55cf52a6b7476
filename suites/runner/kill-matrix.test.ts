import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REFERENCE_SERVER_DEFECTS } from '../../drivers/reference-update-server/index.ts';
import type { KillMatrix } from './kill-matrix.ts';

const CLI = fileURLToPath(new URL('../../bin/ota-conformance.js', import.meta.url));

/**
 * Runs the real CLI, as a user would, writing into a temporary --out (never the user's
 * reports/out), and reads the matrix it prints with --json and the progress it prints on stderr.
 */
async function killMatrix(...args: string[]): Promise<KillMatrix & { out: string; progress: string }> {
  const out = mkdtempSync(join(tmpdir(), 'kill-matrix-out-'));
  const child = spawn(process.execPath, [CLI, 'kill-matrix', '--json', '--out', out, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let progress = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    progress += chunk.toString();
  });
  await once(child, 'exit');
  return { ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as KillMatrix), out, progress };
}

const SERVER_DEFECTS = Object.entries(REFERENCE_SERVER_DEFECTS).flatMap(([profile, defects]) =>
  defects.map((defect) => ({ key: `update-server/${profile}:${defect.name}`, breaks: [...defect.breaks] })),
);

/**
 * The proof that every check can fail: each profile's suites against its conforming emulator,
 * the update-server suites against the reference update server, and each once per defect of its
 * catalog (DESIGN.md, Defects).
 */
describe('kill matrix', () => {
  it('--profile update-server: every reference-server defect is caught by exactly the requirements it names, every role-2 MUST kills', async () => {
    const matrix = await killMatrix('--profile', 'update-server');
    expect(matrix.conformingFailures.map((r) => `${r.target} ${r.id}: ${r.detail}`)).toEqual([]);
    expect(
      matrix.defects.map((d) => ({ key: `${d.profile}:${d.name}`, breaks: [...d.killedBy].sort() })),
    ).toEqual(SERVER_DEFECTS.map((d) => ({ ...d, breaks: d.breaks.sort() })));
    const must = matrix.requirements.filter((r) => r.level === 'MUST');
    expect(must.map((r) => r.id).sort()).toEqual([
      'update-server/esp-https-ota/1',
      'update-server/esp-https-ota/10',
      'update-server/esp-https-ota/2',
      'update-server/esp-https-ota/3',
      'update-server/esp-https-ota/4',
      'update-server/esp-https-ota/5',
      'update-server/esp-https-ota/9',
      'update-server/http-update/1',
      'update-server/http-update/2',
      'update-server/http-update/3',
      'update-server/http-update/5',
      'update-server/http-update/6',
      'update-server/http-update/7',
      'update-server/luartos/1',
      'update-server/luartos/2',
      'update-server/luartos/3',
      'update-server/luartos/4',
      'update-server/mqtt-trigger/1',
      'update-server/mqtt-trigger/2',
      'update-server/mqtt-trigger/3',
    ]);
    expect(must.filter((r) => r.kills.length === 0)).toEqual([]);
    expect(matrix.toothless).toEqual([]);
    expect(matrix.survivors).toEqual([]);
    // A report of its own: progress while it ran, its wall time, and the files in --out.
    expect(matrix.progress).toMatch(/^kill matrix: \d+ targets \(\d+ conforming/m);
    expect(matrix.progress).toMatch(/^kill matrix: done in \d+\.\d s, \d+ results/m);
    expect(readFileSync(join(matrix.out, 'kill-matrix.md'), 'utf8')).toMatch(/run in \d+\.\d s\./);
    expect(existsSync(join(matrix.out, 'kill-matrix.json'))).toBe(true);
  }, 600_000);

  it('catches every defect by the requirements it names, gives every MUST a kill, passes the conforming targets', async () => {
    const matrix = await killMatrix();
    expect(matrix.conformingFailures.map((r) => `${r.target} ${r.id}: ${r.detail}`)).toEqual([]);
    expect(matrix.survivors).toEqual([]);
    expect(matrix.missedNamed).toEqual([]);
    expect(matrix.toothless).toEqual([]);
    expect(matrix.defects.length).toBeGreaterThanOrEqual(40 + SERVER_DEFECTS.length);
    expect(matrix.defects.map((d) => `${d.profile}:${d.name}`)).toEqual(
      expect.arrayContaining(SERVER_DEFECTS.map((d) => d.key)),
    );
    expect(readFileSync(join(matrix.out, 'kill-matrix.md'), 'utf8')).toContain('Survivors: none');
  }, 1_800_000);
});
