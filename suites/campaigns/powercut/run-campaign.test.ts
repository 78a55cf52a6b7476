import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isUnsafe } from './cut-point.ts';
import { runPowercut } from './run-campaign.ts';

/*
 * The powercut command's path on the default rig's esp-https-ota emulator: the harness starts it
 * as `run` does, cuts through its control plane and reports.
 */

async function sweep(defects: string[]) {
  const lines: string[] = [];
  const outcome = await runPowercut({
    target: 'esp-https-ota',
    defects,
    seed: 5,
    points: 3,
    phases: ['commit', 'first-boot'],
    bisect: false,
    settleMs: 400,
    outDir: mkdtempSync(join(tmpdir(), 'powercut-run-')),
    write: (text) => lines.push(text),
  });
  return { ...outcome, output: lines.join('') };
}

describe('powercut on esp-https-ota: a known state whose confirmation does not stick', () => {
  it('otadata-in-place (mark-valid ANDs PENDING_VERIFY into NEW, so each boot is pending again and esp_ota_begin refuses): the campaign confirms after each restore and sweeps', async () => {
    const { exitCode, result, output } = await sweep(['otadata-in-place']);
    expect(output).not.toMatch(/does not take/);
    expect(exitCode, output).toBe(0);
    expect(result!.cuts.length).toBeGreaterThan(0);
    // A torn in-place mark-valid leaves PENDING_VERIFY (rolled back at power-on) or NEW (the new image boots).
    expect(result!.cuts.filter((cut) => isUnsafe(cut.outcome))).toEqual([]);
  }, 120_000);

  it('the conforming emulator sweeps the same phases with the same outcome classes', async () => {
    const { exitCode, result, output } = await sweep([]);
    expect(exitCode, output).toBe(0);
    expect(result!.cuts.every((cut) => cut.outcome === 'old' || cut.outcome === 'rolled-back')).toBe(true);
  }, 120_000);
});
