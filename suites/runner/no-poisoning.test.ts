import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, runConformance } from './run-conformance.ts';

/*
 * A requirement given up on at its timeout must not decide the next one: the update server it
 * started on the device's update address is closed when it times out (not when its body gives up,
 * which may be never), and the next requirement starts by restarting the device. A requirement
 * that passed leaves no restart behind (the acceptance twin).
 */
function suites(): string {
  const dir = mkdtempSync(join(tmpdir(), 'poison-suites-'));
  mkdirSync(join(dir, 'http-update'));
  const framework = join(PROJECT_ROOT, 'suites', 'framework', 'index.ts');
  writeFileSync(
    join(dir, 'http-update', 'a.suite.ts'),
    `import { requirement, startRigUpdateServer } from ${JSON.stringify(framework)};
const RESET = /ets Jan\\s+8 2013,rst cause:\\d/;
let mark = 0;
const where = (target) => ({ ...target.description.updateServer, port: target.description.updateServer.port });
const bootsSince = (target, from) => target.console.lines().slice(from).filter((line) => RESET.test(line.text)).length;

requirement('http-update/poison/1', 'MUST', 'binds the update address and never finishes', { source: 'test', timeoutMs: 1500 }, async ({ target }) => {
  await startRigUpdateServer(target, where(target), {});
  mark = target.console.lines().length;
  await new Promise(() => {});
});

requirement('http-update/poison/2', 'MUST', 'binds the same address after a timed-out requirement, on a restarted device', { source: 'test' }, async ({ target, check }) => {
  const server = await startRigUpdateServer(target, where(target), {});
  await server.stop();
  check(bootsSince(target, mark) > 0, 'a restart since the timed-out requirement', String(bootsSince(target, mark)));
  mark = target.console.lines().length;
});

requirement('http-update/poison/3', 'MUST', 'no restart after a requirement that passed', { source: 'test' }, async ({ target, check }) => {
  const server = await startRigUpdateServer(target, where(target), {});
  await server.stop();
  check(bootsSince(target, mark) === 0, 'no restart since the passing requirement', String(bootsSince(target, mark)));
});
`,
  );
  return dir;
}

describe('a requirement that timed out', () => {
  it('leaves its update server closed and the device restarted for the next; a passing one leaves no restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poison-'));
    const rig = join(dir, 'rig.json');
    writeFileSync(
      rig,
      JSON.stringify({
        name: 'poison',
        targets: [
          {
            name: 'http-update',
            kind: 'emulator',
            profile: 'http-update',
            platform: 'esp8266',
            capabilities: ['console', 'power-cycle', 'reset'],
            updateServer: { host: '127.0.0.1' },
          },
        ],
      }),
    );
    const lines: string[] = [];
    const outcome = await runConformance({
      rig,
      outDir: join(dir, 'out'),
      suitesDir: suites(),
      write: (text) => lines.push(text),
    });
    const verdicts = Object.fromEntries(outcome.results.map((result) => [result.id, result.outcome]));
    expect(verdicts, lines.join('')).toEqual({
      'http-update/poison/1': 'fail',
      'http-update/poison/2': 'pass',
      'http-update/poison/3': 'pass',
    });
    expect(outcome.results.find((r) => r.id === 'http-update/poison/1')?.detail).toMatch(
      /timed out in 1500ms/,
    );
  }, 60_000);
});
