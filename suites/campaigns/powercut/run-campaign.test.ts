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

describe('powercut --phase transfer on an MQTT-triggered ESP32 (buttonsMeshIDF, esp_https_ota)', () => {
  it("cuts at the byte asked for, with the image before it written in esp_https_ota's 1024-byte reads", async () => {
    const lines: string[] = [];
    const { exitCode, result } = await runPowercut({
      target: 'mqtt-trigger',
      seed: 2,
      points: 1,
      phases: ['transfer'],
      bisect: false,
      settleMs: 400,
      outDir: mkdtempSync(join(tmpdir(), 'powercut-run-')),
      write: (text) => lines.push(text),
    });
    expect(exitCode, lines.join('')).toBe(0);
    const [cut] = result!.cuts;
    expect(cut!.point).toMatchObject({ wireCount: 'received', wireBytes: cut!.point.requestedBytes });
    const taken = Number(/\((\d+) handed to the update code/.exec(cut!.evidence)?.[1]);
    // Everything before the read that held the cut byte reached esp_ota_write, and no more.
    expect(cut!.point.wireBytes! - taken).toBeGreaterThan(0);
    expect(cut!.point.wireBytes! - taken).toBeLessThanOrEqual(1024);
    expect(cut!.outcome).toBe('old');
  }, 60_000);
});
