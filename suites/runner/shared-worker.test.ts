import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultWorkers, PROJECT_ROOT, runConformance, workerGroups } from './run-conformance.ts';

/*
 * Several targets share a worker and run side by side: what one target's requirement does must
 * never reach another's. Two emulated devices of one profile run in one worker: on `a` the first
 * requirement binds the update address and hangs until its timeout, on `b` it passes. Only `a`
 * restarts its device before its next requirement; each target's suite file is its own module
 * instance (its module state names the target it was loaded for); each result lists only the
 * images its own target was sent.
 */
function suites(): string {
  const dir = mkdtempSync(join(tmpdir(), 'shared-worker-suites-'));
  mkdirSync(join(dir, 'http-update'));
  const framework = join(PROJECT_ROOT, 'suites', 'framework', 'index.ts');
  const ledger = join(PROJECT_ROOT, 'drivers', 'image-ledger', 'index.ts');
  writeFileSync(
    join(dir, 'http-update', 'a.suite.ts'),
    `import { currentTarget, requirement, startRigUpdateServer } from ${JSON.stringify(framework)};
import { noteImageSent } from ${JSON.stringify(ledger)};
const RESET = /ets Jan\\s+8 2013,rst cause:\\d/;
const loadedFor = currentTarget()?.name;
let mark = 0;
const where = (target) => ({ ...target.description.updateServer, port: target.description.updateServer.port });
const bootsSince = (target, from) => target.console.lines().slice(from).filter((line) => RESET.test(line.text)).length;

requirement('http-update/shared/1', 'MUST', 'a hangs holding its update address; b passes', { source: 'test', timeoutMs: 2000 }, async ({ target }) => {
  noteImageSent(new TextEncoder().encode('image for ' + target.name), 'test ' + target.name);
  mark = target.console.lines().length;
  if (target.name === 'a') {
    await startRigUpdateServer(target, where(target), {});
    await new Promise(() => {});
  }
});

requirement('http-update/shared/2', 'MUST', 'only the target whose requirement timed out was restarted', { source: 'test' }, async ({ target, check }) => {
  const server = await startRigUpdateServer(target, where(target), {});
  await server.stop();
  const boots = bootsSince(target, mark);
  check(target.name === 'a' ? boots > 0 : boots === 0, target.name + ': restarted only after its own timeout', String(boots));
});

requirement('http-update/shared/3', 'MUST', 'the suite file was loaded for this target', { source: 'test' }, async ({ target, check }) => {
  check(loadedFor === target.name && currentTarget()?.name === target.name, 'loaded for ' + target.name, String(loadedFor) + ' / ' + String(currentTarget()?.name));
});
`,
  );
  return dir;
}

describe('targets sharing a worker', () => {
  it('keep their timeouts, restarts, module state and image ledgers apart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shared-worker-'));
    const rig = join(dir, 'rig.json');
    const device = (name: string) => ({
      name,
      kind: 'emulator',
      profile: 'http-update',
      platform: 'esp8266',
      capabilities: ['console', 'power-cycle', 'reset'],
      updateServer: { host: '127.0.0.1' },
    });
    writeFileSync(rig, JSON.stringify({ name: 'shared', targets: [device('a'), device('b')] }));
    const lines: string[] = [];
    const outcome = await runConformance({
      rig,
      outDir: join(dir, 'out'),
      suitesDir: suites(),
      env: { ...process.env, OTA_RUN_WORKERS: '1' },
      write: (text) => lines.push(text),
    });
    const verdicts = Object.fromEntries(
      outcome.results.map((result) => [`${result.target} ${result.id}`, result.outcome]),
    );
    expect(verdicts, lines.join('')).toEqual({
      'a http-update/shared/1': 'fail',
      'a http-update/shared/2': 'pass',
      'a http-update/shared/3': 'pass',
      'b http-update/shared/1': 'pass',
      'b http-update/shared/2': 'pass',
      'b http-update/shared/3': 'pass',
    });
    const b = outcome.results.find((result) => result.target === 'b' && result.id === 'http-update/shared/1');
    expect(b?.images?.map((image) => image.via)).toEqual(['test b']);
  }, 60_000);
});

describe('workerGroups', () => {
  it('spreads the heaviest targets first over at most the given number of groups', () => {
    const groups = workerGroups(
      [
        { name: 'light', weight: 1 },
        { name: 'heavy', weight: 9 },
        { name: 'middle', weight: 5 },
        { name: 'other', weight: 4 },
      ],
      2,
    );
    expect(groups).toEqual([
      ['heavy', 'light'],
      ['middle', 'other'],
    ]);
    expect(workerGroups([{ name: 'only', weight: 1 }], 4)).toEqual([['only']]);
    expect(workerGroups([{ name: 'x', weight: 1 }], Number.NaN)).toEqual([['x']]);
  });
});

describe('defaultWorkers', () => {
  it('leaves a core to the embedded emulators host when the run has one, at least one, at most four', () => {
    expect(defaultWorkers(true, 2)).toBe(1);
    expect(defaultWorkers(false, 2)).toBe(2);
    expect(defaultWorkers(true, 1)).toBe(1);
    expect(defaultWorkers(true, 16)).toBe(4);
    expect(defaultWorkers(false, 3)).toBe(3);
  });
});
