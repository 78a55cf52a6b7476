import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extract } from 'tar';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeViperhttpRig } from '../suites/runner/viperhttp-rig.test-support.ts';
import { buildMatrix, verdictsOf } from './matrix/index.ts';
import { readResultsFile } from './results-file.ts';
import { latestRunFolder } from './run-folder.ts';

const CLI = fileURLToPath(new URL('../bin/ota-conformance.js', import.meta.url));
const ENV = { HAND_OVER_TOKEN: 'hand-over-token-4711' };

async function cli(args: string[], options: { cwd?: string; command?: string[] } = {}) {
  const [program, ...prefix] = options.command ?? [process.execPath, CLI];
  const child = spawn(program!, [...prefix, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...ENV, OTA_CONFORMANCE: `${process.execPath} ${CLI}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

/** A conforming emulator and one that accepts any token: viperhttp/auth/2 and /3 fail on it only. */
function rig(dir: string): string {
  return writeViperhttpRig(
    dir,
    'hand-over',
    [
      { name: 'conforming', defects: [] },
      { name: 'any-token', defects: ['accepts-any-token'] },
      { name: 'third' },
    ],
    { env: 'HAND_OVER_TOKEN' },
  );
}

const FAILED = ['any-token viperhttp/auth/2', 'any-token viperhttp/auth/3'];

describe('reports a vendor can hand over, and many benches in one report', () => {
  let dir: string;
  let rigFile: string;
  let whole: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hand-over-'));
    rigFile = rig(dir);
    const run = await cli(['run', '--rig', rigFile, '--grep', 'viperhttp/auth', '--out', join(dir, 'whole')]);
    expect(run.code, run.output).toBe(1);
    whole = latestRunFolder(join(dir, 'whole'))!;
  }, 180_000);

  it('the bundle of a run with one failing target unpacks, and its re-run command runs only the failures', async () => {
    const archive = join(mkdtempSync(join(dir, 'bundle-')), 'bundle.tar.gz');
    const bundled = await cli(['report', 'bundle', join(dir, 'whole'), '--out', archive]);
    expect(bundled.code, bundled.output).toBe(0);
    const unpacked = mkdtempSync(join(tmpdir(), 'hand-over-unpacked-'));
    await extract({ file: archive, cwd: unpacked });
    const [top] = readdirSync(unpacked);
    const root = join(unpacked, top!);
    for (const file of [
      'run.json',
      'results.jsonl',
      'junit.xml',
      'matrix.html',
      'matrix.md',
      'allure-report.html',
      'images.sha256',
      'rerun-failed.sh',
      'docs/protocols/viperhttp-luartos-mqtt.md',
      'transcripts/any-token/viperhttp_auth_2.wire.txt',
      'logs/any-token/viperhttp_auth_2.console.txt',
    ])
      expect(existsSync(join(root, file)), file).toBe(true);
    expect(readFileSync(join(root, 'transcripts/any-token/viperhttp_auth_2.wire.txt'), 'utf8')).toMatch(
      />> .*\/ota\//,
    );
    for (const file of ['run.json', 'results.jsonl', 'junit.xml', 'matrix.html', 'rerun-failed.sh'])
      expect(readFileSync(join(root, file), 'utf8')).not.toContain(ENV.HAND_OVER_TOKEN);

    const rerun = await cli(['rerun-failed.sh', '--out', 'rerun'], { cwd: root, command: ['sh'] });
    expect(rerun.code, rerun.output).toBe(1);
    const { metadata, results } = readResultsFile(
      join(latestRunFolder(join(root, 'rerun'))!, 'results.jsonl'),
    );
    expect(results.map((r) => `${r.target} ${r.id}`).sort()).toEqual(FAILED);
    expect(results.every((r) => r.outcome === 'fail')).toBe(true);
    expect(metadata?.selection.rerun).toBe('results.jsonl');
  }, 180_000);

  it('two shards on one machine, merged, give the same matrix as the unsharded run', async () => {
    const shards = mkdtempSync(join(dir, 'shards-'));
    const [first, second] = await Promise.all(
      ['1/2', '2/2'].map((shard) =>
        cli(['run', '--rig', rigFile, '--grep', 'viperhttp/auth', '--out', shards, '--shard', shard]),
      ),
    );
    const folders = readdirSync(shards).filter((name) => /shard\dof2$/.test(name));
    expect(folders).toHaveLength(2);
    const targetsOf = (folder: string) =>
      [
        ...new Set(readResultsFile(join(shards, folder, 'results.jsonl')).results.map((r) => r.target)),
      ].sort();
    // Round-robin over the sorted names: any-token and third, then conforming.
    expect(folders.map(targetsOf).sort()).toEqual([['any-token', 'third'], ['conforming']]);
    expect([first!.code, second!.code].sort()).toEqual([0, 1]);

    const merged = await cli([
      'report',
      'merge',
      ...folders.map((f) => join(shards, f)),
      '--out',
      join(dir, 'merged'),
    ]);
    expect(merged.code, merged.output).toBe(1);
    const mergedDir = latestRunFolder(join(dir, 'merged'))!;
    const verdicts = (folder: string) => {
      const { metadata, results } = readResultsFile(join(folder, 'results.jsonl'));
      return verdictsOf(buildMatrix(metadata ? [metadata] : [], results));
    };
    expect(verdicts(mergedDir)).toEqual(verdicts(whole));
    expect(verdicts(whole)).toHaveLength(4);
    const section = (folder: string) =>
      readFileSync(join(folder, 'matrix.md'), 'utf8')
        .split('## Requirements × targets')[1]!
        .split('## Not passed')[0]!
        .replace(/\]\([^)]*\)/g, ']');
    expect(section(mergedDir)).toEqual(section(whole));
    const html = readFileSync(join(mergedDir, 'matrix.html'), 'utf8');
    for (const folder of folders) expect(html).toContain(`Run ${folder}`);
    expect(readResultsFile(join(mergedDir, 'results.jsonl')).metadata?.mergedFrom?.sort()).toEqual(
      folders.sort(),
    );
    expect(existsSync(join(mergedDir, 'allure-report.html'))).toBe(true);
  }, 240_000);
});
