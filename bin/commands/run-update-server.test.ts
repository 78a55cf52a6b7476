import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, writeRig } from '../../drivers/flasher/test-support/emulator-board.ts';
import {
  type StartedReferenceUpdateServer,
  startReferenceUpdateServer,
} from '../../drivers/reference-update-server/index.ts';
import { readResultsFile } from '../../reports/results-file.ts';
import { closedPort } from '../../suites/runner/preflight/closed-port.test-support.ts';

const run = (args: string[]) => runCli(['run', ...args]);

interface Result {
  target: string;
  id: string;
  outcome: string;
  detail?: string;
}

function results(out: string): Result[] {
  return readResultsFile(join(out, 'latest', 'results.jsonl')).results as Result[];
}

const rigWith = (target: Record<string, unknown>) =>
  writeRig({ name: 'server-under-test', targets: [target] });

/**
 * Role 2 by URL, as a vendor runs it: the test starts an HTTPUpdate server of its own (the
 * reference server, reached only over the network like any other) and points the CLI at it.
 */
describe('ota-conformance run against an update server by URL', () => {
  let conforming: StartedReferenceUpdateServer;
  let anyClient: StartedReferenceUpdateServer;
  beforeAll(async () => {
    conforming = await startReferenceUpdateServer({ profile: 'http-update' });
    anyClient = await startReferenceUpdateServer({ profile: 'http-update', defects: ['serves-any-client'] });
  });
  afterAll(async () => {
    await Promise.all([conforming?.stop(), anyClient?.stop()]);
  });

  it('a rig target of kind update-server with a url: one result per requirement, every one passing, exit 0', async () => {
    const out = mkdtempSync(join(tmpdir(), 'server-out-'));
    const rig = rigWith({
      name: 'vendor-server',
      kind: 'update-server',
      profile: 'http-update',
      url: conforming.url,
      capabilities: ['range'],
      options: { path: '/firmware.bin', latestVersion: '1.1.0', olderVersion: '1.0.0' },
    });
    const { code, stdout, stderr } = await run(['--rig', rig, '--out', out]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const ids = results(out).map((result) => `${result.id} ${result.outcome}`);
    expect(ids.sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => `update-server/http-update/${n} pass`));
    expect(stdout).toMatch(/✓ vendor-server \d+\/\d+ {2}update-server\/http-update\/5 \[MUST\]/);
  }, 120_000);

  it('an ESP8266-only server (platform: esp8266) is not judged on ESP32 checks: that requirement is skipped with the reason', async () => {
    const out = mkdtempSync(join(tmpdir(), 'server-out-'));
    const rig = rigWith({
      name: 'esp8266-server',
      kind: 'update-server',
      profile: 'http-update',
      platform: 'esp8266',
      url: conforming.url,
      options: { latestVersion: '1.1.0', olderVersion: '1.0.0' },
    });
    const { code } = await run(['--rig', rig, '--out', out, '--grep', 'update-server/http-update/3']);
    // The one requirement selected is skipped, so nothing ran on the target: exit 3, not a pass.
    expect(code).toBe(3);
    expect(results(out)).toEqual([
      expect.objectContaining({
        id: 'update-server/http-update/3',
        outcome: 'skip',
        detail: expect.stringContaining('esp8266'),
      }),
    ]);
  }, 120_000);

  it('--target update-server:http-update=<url> judges the server: a server that serves anyone fails the 403 requirements with Expected/Actual, exit 1; the conforming one passes all nine with --capability and --option', async () => {
    const out = mkdtempSync(join(tmpdir(), 'server-out-'));
    const { code, stdout } = await run([
      '--target',
      `update-server:http-update=${anyClient.url}/firmware.bin`,
      '--grep',
      'update-server/http-update/5',
      '--out',
      out,
    ]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/Expected: 403 Forbidden\n\s+Actual: {3}HTTP\/1\.1 200 OK/);
    expect(results(out)).toEqual([
      expect.objectContaining({
        target: 'update-server-http-update-1',
        id: 'update-server/http-update/5',
        outcome: 'fail',
      }),
    ]);
    // The acceptance twin: the conforming server, the same way, every requirement, with what it
    // publishes and claims given on the command line.
    const good = mkdtempSync(join(tmpdir(), 'server-out-'));
    const passing = await run([
      '--target',
      `update-server:http-update=${conforming.url}/firmware.bin`,
      '--capability',
      'range',
      '--option',
      'latestVersion=1.1.0',
      '--option',
      'olderVersion=1.0.0',
      '--out',
      good,
    ]);
    expect(passing.code).toBe(0);
    expect(
      results(good)
        .map((result) => `${result.id} ${result.outcome}`)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => `update-server/http-update/${n} pass`));
  }, 120_000);

  it('an address nothing listens on is one rig error for the target, never a pass', async () => {
    const out = mkdtempSync(join(tmpdir(), 'server-out-'));
    const url = `http://127.0.0.1:${await closedPort()}`;
    const { code } = await run(['--target', `update-server:http-update=${url}`, '--out', out]);
    // Rig errors and nothing else: exit 3, one preflight failure naming the refused connection.
    expect(code).toBe(3);
    const all = results(out);
    expect(all.filter((result) => result.outcome !== 'not-run')).toEqual([
      expect.objectContaining({
        id: 'update-server-http-update-1/preflight',
        outcome: 'rig-error',
        detail: expect.stringMatching(/ECONNREFUSED/),
      }),
    ]);
    // Each requirement is listed as not run, none as passed or failed.
    expect(all.filter((result) => result.outcome === 'not-run').map((result) => result.id)).toContain(
      'update-server/http-update/5',
    );
  }, 120_000);

  it('exits 2 for --target update-server: with a push profile', async () => {
    const { code, stderr } = await run(['--target', 'update-server:viperhttp=http://127.0.0.1:9']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/an update server serves a pull profile/);
  }, 60_000);
});
