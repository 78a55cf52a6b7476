import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readResultsFile } from '../../reports/results-file.ts';
import { closedPort } from '../../suites/runner/preflight/closed-port.test-support.ts';
import { CLI, runCli } from '../cli-process.test-support.ts';
import { adHocTargets, RunUsageError } from './run.ts';

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['run', ...args], env);

function rigWith(target: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'run-rig-'));
  const file = join(dir, 'rig.json');
  writeFileSync(file, JSON.stringify({ name: 'test', targets: [target] }));
  return file;
}

const viperhttp = (defects: string[] = []) => ({
  name: 'viperhttp',
  kind: 'emulator',
  profile: 'viperhttp',
  platform: 'esp32',
  capabilities: ['console', 'power-cycle'],
  token: { env: 'RUN_TEST_TOKEN' },
  emulator: { defects },
});

const outDir = () => mkdtempSync(join(tmpdir(), 'run-out-'));

describe('ota-conformance run: exit codes', () => {
  it('exits 2 when --grep selects no requirement, naming the prefix', async () => {
    const { code, stderr } = await run(
      ['--rig', rigWith(viperhttp()), '--grep', 'nonexistent/', '--out', outDir()],
      { RUN_TEST_TOKEN: 'run-test-token-4711' },
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/--grep nonexistent\/ selects no requirement of viperhttp/);
  }, 60_000);

  it('exits 3 with one rig error and every requirement not run when the --target refuses connections', async () => {
    const port = await closedPort();
    const { code, stdout } = await run(
      ['--target', `viperhttp=http://127.0.0.1:${port}`, '--grep', 'viperhttp/auth', '--out', outDir()],
      { OTA_TOKEN: 'run-test-token-4711' },
    );
    expect(code).toBe(3);
    const rigErrors = stdout.split('\n').filter((line) => line.startsWith('! '));
    expect(rigErrors).toEqual([
      '! viperhttp-1  preflight: GET /ota/status answers with the ViperHTTP status',
    ]);
    expect(stdout).toMatch(/ECONNREFUSED|refused/);
    expect(stdout).toMatch(/· viperhttp-1 {2}4 not run: preflight failed at "GET \/ota\/status/);
    expect(stdout).toMatch(/viperhttp-1 +0 +0 +0 +0 +1 +4 +rig error, ran nothing/);
    expect(stdout).not.toMatch(/^✗/m);
  }, 60_000);

  it('exits 3 when a target ran nothing: every selected requirement skipped for a capability it lacks', async () => {
    const { code, stdout } = await run(
      ['--rig', rigWith(viperhttp()), '--grep', 'viperhttp/rollback', '--out', outDir()],
      { RUN_TEST_TOKEN: 'run-test-token-4711' },
    );
    expect(code).toBe(3);
    expect(stdout).toMatch(/- viperhttp {2}2 skipped: target viperhttp does not claim rollback, reset\n/);
    expect(stdout).toMatch(/viperhttp +0 +0 +2 +0 +0 +0 +ran nothing/);
    expect(stdout).toMatch(/exit 3: no device failure, but rig errors or a target that ran nothing/);
  }, 60_000);

  it('lists every skip with --verbose instead of folding them', async () => {
    const { code, stdout } = await run(
      ['--rig', rigWith(viperhttp()), '--grep', 'viperhttp/rollback', '--verbose', '--out', outDir()],
      { RUN_TEST_TOKEN: 'run-test-token-4711' },
    );
    expect(code).toBe(3);
    expect(stdout).toMatch(
      /- viperhttp 1\/2 {2}viperhttp\/rollback\/1 .*\(target viperhttp does not claim rollback, reset\)/,
    );
    expect(stdout).toMatch(/- viperhttp 2\/2 {2}viperhttp\/rollback\/2 /);
  }, 60_000);

  it('prints the header, and at the end where each report was written', async () => {
    const out = outDir();
    const { code, stdout } = await run(
      ['--rig', rigWith(viperhttp()), '--grep', 'viperhttp/auth/1', '--out', out],
      {
        RUN_TEST_TOKEN: 'run-test-token-4711',
      },
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^ota-conformance run: rig test \(.*rig\.json\)\n {2}targets: viperhttp \(viperhttp, emulator\)\n {2}output: +\S+/,
    );
    const reports = stdout.split('\n').find((line) => line.startsWith('reports in '));
    expect(reports).toContain(`reports in ${join(out, readlinkSync(join(out, 'latest')))}: `);
    for (const file of ['results.jsonl', 'junit.xml', 'allure-results/', 'run.json'])
      expect(reports).toContain(file);
  }, 60_000);
});

describe('ota-conformance run --target with --capability and --limit', () => {
  it('prints what it assumed for the ad-hoc target, the capabilities and limits included', async () => {
    const port = await closedPort();
    const { code, stdout } = await run(
      [
        '--target',
        `viperhttp=http://127.0.0.1:${port}`,
        '--capability',
        'rollback,range',
        '--limit',
        'sessionTimeoutMs=30000',
        '--grep',
        'viperhttp/auth/1',
        '--out',
        outDir(),
      ],
      { OTA_TOKEN: 'run-test-token-4711' },
    );
    expect(code).toBe(3);
    expect(stdout).toContain(
      `assumed for --target viperhttp-1: a board speaking viperhttp at http://127.0.0.1:${port}`,
    );
    expect(stdout).toContain('  capabilities: rollback, range');
    expect(stdout).toContain('  limits: sessionTimeoutMs=30000');
    expect(stdout).toMatch(/token set/);
    expect(stdout).not.toContain('run-test-token-4711');
  }, 60_000);

  it('exits 2 naming a misspelt limit, an unknown capability, and a claim the target cannot back', async () => {
    const target = ['--target', 'viperhttp=http://127.0.0.1:9'];
    const limit = await run([...target, '--limit', 'sesionTimeoutMs=30000']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toMatch(/--limit sesionTimeoutMs: .*known limits: sessionTimeoutMs/);
    const capability = await run([...target, '--capability', 'rolback']);
    expect(capability.code).toBe(2);
    expect(capability.stderr).toMatch(/--capability rolback: unknown capability/);
    const console = await run([...target, '--capability', 'console']);
    expect(console.code).toBe(2);
    expect(console.stderr).toMatch(
      /--capability console: needs a serial console, which a --target address cannot give/,
    );
  }, 60_000);
});

describe('run --target', () => {
  const targets = (...target: string[]) => adHocTargets({ target }, {});

  it.each([
    'viperhttp=ftp://x',
    'web-update=udp://127.0.0.1:80',
    'arduino-ota=http://127.0.0.1:8266',
    'arduino-ota=udp://127.0.0.1',
  ])('refuses %s as a usage error naming the address it needs', (spec) => {
    expect(() => targets(spec)).toThrow(RunUsageError);
    expect(() => targets(spec)).toThrow(/address is (udp:\/\/host:port|an http:\/\/ or https:\/\/ URL)/);
  });

  it('accepts http(s) for an HTTP profile and udp://host:port for arduino-ota', () => {
    expect(targets('viperhttp=https://10.0.0.5:8443/')[0]).toMatchObject({ url: 'https://10.0.0.5:8443' });
    expect(targets('arduino-ota=udp://10.0.0.6:8266')[0]).toMatchObject({ host: '10.0.0.6', port: 8266 });
  });
});

describe('ota-conformance run', () => {
  it('exits 2 and names the file, target and field of a malformed rig', async () => {
    const rig = rigWith({ ...viperhttp(), profile: 'viperhttpx' });
    const { code, stderr } = await run(['--rig', rig]);
    expect(code).toBe(2);
    expect(stderr).toContain(rig);
    expect(stderr).toMatch(/target "viperhttp".*profile/);
  }, 60_000);

  it('exits 2 for a --target with an unknown profile', async () => {
    const { code, stderr } = await run(['--target', 'nope=http://127.0.0.1:9']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown profile 'nope'/);
  }, 60_000);

  it('exits 2 and lists the rig targets for an --only name the rig does not have', async () => {
    const { code, stderr } = await run(['--rig', rigWith(viperhttp()), '--only', 'viperhtp']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--only viperhtp: the rig has no such target; its targets: viperhttp/);
  }, 60_000);

  it('reports a target it cannot start as a rig error (printed, in results.jsonl and JUnit) and exits 3', async () => {
    const out = mkdtempSync(join(tmpdir(), 'run-out-'));
    const { code, stdout } = await run(['--rig', rigWith(viperhttp(['no-such-defect'])), '--out', out], {
      RUN_TEST_TOKEN: 'run-test-token-4711',
    });
    expect(code).toBe(3);
    expect(stdout).toMatch(
      /! viperhttp {2}the target can be started and reached\n\s+.*unknown defect 'no-such-defect'/,
    );
    const { results } = readResultsFile(join(out, 'latest', 'results.jsonl'));
    expect(results).toEqual([
      expect.objectContaining({ target: 'viperhttp', id: 'viperhttp/rig', outcome: 'rig-error' }),
    ]);
    expect(readFileSync(join(out, 'latest', 'junit.xml'), 'utf8')).toMatch(
      /<error message="emulator viperhttp: unknown defect/,
    );
  }, 60_000);

  it('exits 0 when every MUST passes and 1 when a defect breaks one; results, JUnit and no secret in them', async () => {
    const token = 'run-test-token-4711';
    const good = mkdtempSync(join(tmpdir(), 'run-out-'));
    const passing = await run(['--rig', rigWith(viperhttp()), '--grep', 'viperhttp/auth', '--out', good], {
      RUN_TEST_TOKEN: token,
    });
    expect(passing.code).toBe(0);
    expect(passing.stdout).toMatch(/✓ viperhttp \d+\/\d+ {2}viperhttp\/auth\/1 \[MUST\]/);
    const { results } = readResultsFile(join(good, 'latest', 'results.jsonl'));
    expect(results.length).toBeGreaterThanOrEqual(4);
    expect(results.every((r: { outcome: string }) => r.outcome === 'pass')).toBe(true);

    const bad = mkdtempSync(join(tmpdir(), 'run-out-'));
    const failing = await run(
      ['--rig', rigWith(viperhttp(['accepts-any-token'])), '--grep', 'viperhttp/auth', '--out', bad],
      { RUN_TEST_TOKEN: token },
    );
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/Expected: .*\n\s+Actual: /);
    const junit = readFileSync(join(bad, 'latest', 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<failure message="viperhttp\/auth\/\d \[MUST\]/);
    for (const dir of [good, bad]) {
      for (const file of ['results.jsonl', 'junit.xml'])
        expect(readFileSync(join(dir, 'latest', file), 'utf8')).not.toContain(token);
    }
    expect(failing.stdout).not.toContain(token);
  }, 120_000);

  it('leaves the results it finished when the run is killed half-way', async () => {
    const out = mkdtempSync(join(tmpdir(), 'run-out-'));
    const child = spawn(
      process.execPath,
      [CLI, 'run', '--rig', rigWith(viperhttp()), '--grep', 'viperhttp/', '--out', out],
      {
        env: { ...process.env, RUN_TEST_TOKEN: 'run-test-token-4711' },
        stdio: 'ignore',
      },
    );
    const resultsFile = join(out, 'latest', 'results.jsonl');
    const deadline = Date.now() + 60_000;
    while (!(existsSync(resultsFile) && readFileSync(resultsFile, 'utf8').split('\n').length > 3)) {
      if (Date.now() > deadline) throw new Error('no results appeared');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGKILL');
    await once(child, 'exit');
    const { metadata, results } = readResultsFile(resultsFile);
    expect(metadata?.status).toBe('running');
    expect(results.length).toBeGreaterThanOrEqual(2);
    for (const result of results) expect(result).toHaveProperty('id');
    // The run's folder holds only what it finished: no JUnit that could pass for a whole run.
    expect(existsSync(join(out, 'latest', 'junit.xml'))).toBe(false);
  }, 120_000);
});
