import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readResultsFile } from '../../reports/results-file.ts';
import { writeViperhttpRig } from './viperhttp-rig.test-support.ts';

const CLI = fileURLToPath(new URL('../../bin/ota-conformance.js', import.meta.url));

async function run(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [CLI, 'run', ...args], {
    env: { ...process.env, RUN_TEST_TOKEN: 'concurrent-token-4711' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout };
}

describe('two runs at once into one --out', () => {
  it('both complete, each in its own folder, and neither loses a line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'concurrent-runs-'));
    const rig = writeViperhttpRig(dir, 'concurrent', [{ name: 'viperhttp' }], { env: 'RUN_TEST_TOKEN' });
    const out = join(dir, 'out');
    const args = ['--rig', rig, '--grep', 'viperhttp/auth', '--out', out];
    const [a, b] = await Promise.all([run(args), run(args)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const folders = readdirSync(out).filter((name) => /^\d{8}-\d{6}-\d+/.test(name));
    expect(folders).toHaveLength(2);
    // The requirement IDs a run printed as passed (✓ lines), whatever else the line carries.
    const passedIds = (stdout: string) =>
      stdout
        .split('\n')
        .filter((line) => line.includes('✓'))
        .flatMap((line) => /viperhttp\/auth\/\d+/.exec(line)?.[0] ?? []);
    for (const folder of folders) {
      const { metadata, results } = readResultsFile(join(out, folder, 'results.jsonl'));
      expect(metadata?.runId).toBe(folder);
      const own = [a, b].find((r) => r.stdout.includes(folder));
      expect(own, `a run names ${folder} as its results`).toBeDefined();
      // Every requirement the run printed is in its own file, and nothing else is.
      const printed = passedIds(own!.stdout);
      expect(results.map((r) => r.id).sort()).toEqual(printed.sort());
      expect(results.length).toBeGreaterThanOrEqual(4);
    }
  }, 180_000);
});
