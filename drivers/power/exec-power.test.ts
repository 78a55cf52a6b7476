import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExecPower, PowerCommandError, PowerTimeoutError, PowerUsageError } from './index.ts';

let directory: string;

/** True once the process is gone or a zombie (killed, waiting for init to reap it). */
async function processEnds(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined || /\) Z /.test(stat)) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'exec-power-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('ExecPower runs the rig’s shell commands', () => {
  it('on, off and cycle (off, wait, on) run their commands in order', async () => {
    const state = join(directory, 'relay');
    const power = new ExecPower({
      targetName: 'hub-port-3',
      on: `echo on >> '${state}'`,
      off: `echo off >> '${state}'`,
    });
    await power.off();
    await power.on();
    const startedAt = Date.now();
    await power.cycle(120);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(115);
    expect(await readFile(state, 'utf8')).toBe('off\non\noff\non\n');
    expect(power.commandLog.map((record) => record.step)).toEqual([
      'power off',
      'power on',
      'power cycle: off',
      'power cycle: on',
    ]);
  });

  it('a cycle command gets the off time as OTA_POWER_OFF_MS', async () => {
    const state = join(directory, 'cycle');
    const power = new ExecPower({
      targetName: 'hub-port-3',
      on: 'true',
      off: 'true',
      cycle: `echo "cycle $OTA_POWER_OFF_MS" > '${state}'`,
    });
    await power.cycle(250);
    expect(await readFile(state, 'utf8')).toBe('cycle 250\n');
  });

  it('captures output and redacts it, in the log and in the error of a failing command', async () => {
    const power = new ExecPower({
      targetName: 'hub-port-3',
      on: 'echo "login admin:hub-secret-42 ok"',
      off: 'echo "auth hub-secret-42 refused" >&2; exit 3',
      redact: (text) => text.replaceAll('hub-secret-42', '[REDACTED]'),
    });
    await power.on();
    expect(power.commandLog[0]).toMatchObject({ exitCode: 0, stdout: 'login admin:[REDACTED] ok\n' });
    const error = (await power.off().catch((caught: unknown) => caught)) as PowerCommandError;
    expect(error).toBeInstanceOf(PowerCommandError);
    expect(error.code).toBe('POWER_COMMAND_FAILED');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain("target 'hub-port-3'");
    expect(error.message).toContain("step 'power off'");
    expect(error.message).toContain('auth [REDACTED] refused');
    expect(error.message).not.toContain('hub-secret-42');
    expect(JSON.stringify(power.commandLog)).not.toContain('hub-secret-42');
  });

  it('a hanging command is killed at its timeout, its children too, and the error names target and step', async () => {
    const pidFile = join(directory, 'child.pid');
    const power = new ExecPower({
      targetName: 'hub-port-3',
      on: `sleep 30 & echo $! > '${pidFile}'; wait`,
      off: 'true',
      timeoutMs: 300,
    });
    const startedAt = Date.now();
    const error = (await power.on().catch((caught: unknown) => caught)) as PowerTimeoutError;
    const elapsedMs = Date.now() - startedAt;
    expect(error).toBeInstanceOf(PowerTimeoutError);
    expect(error.code).toBe('POWER_TIMEOUT');
    expect(error.message).toContain("target 'hub-port-3'");
    expect(error.message).toContain("step 'power on'");
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    expect(elapsedMs).toBeLessThan(3_000);
    const childPid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(await processEnds(childPid, 1_000)).toBe(true);
    // The same driver's other command still works after a kill.
    await power.off();
  });

  it('refuses a blank command when it is configured', () => {
    expect(() => new ExecPower({ targetName: 'hub-port-3', on: ' ', off: 'true' })).toThrow(PowerUsageError);
  });
});
