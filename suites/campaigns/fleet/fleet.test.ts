/**
 * A small fleet end to end: real emulated Tasmota devices in two worker processes, the reference
 * update server staged 50 % / 50 %, half of the first downloads faulted and one device faulted on
 * every download. Every device must end in a reported state; all but the unrecoverable one run the
 * new version, and that one is reported failed with the device's own error.
 */
import { describe, expect, it } from 'vitest';
import { runFleet } from './fleet.ts';

describe('fleet campaign', () => {
  it('rolls an update out in stages through faulted downloads; only the deliberately unrecoverable device fails, with why', async () => {
    const lines: string[] = [];
    const report = await runFleet({
      devices: 6,
      stages: [50, 100],
      faultRate: 0.5,
      unrecoverable: 1,
      workers: 2,
      attempts: 3,
      seed: 3,
      stageTimeoutS: 60,
      parallel: 6,
      trigger: 'mqtt',
      pollIntervalMs: 1000,
      write: (line) => lines.push(line),
    });
    expect(report.devices).toHaveLength(6);
    const failed = report.devices.filter((device) => device.outcome !== 'updated');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ outcome: 'failed', rebootedInto: '1.0.0' });
    expect(failed[0]?.why).toMatch(/^Failed .+ \(after 3 attempts\)$/);
    expect(failed[0]?.faults).toHaveLength(3);
    for (const device of report.devices.filter((entry) => entry.outcome === 'updated'))
      expect(device).toMatchObject({ downloaded: true, verified: true, rebootedInto: '2.0.0' });
    // Faulted first downloads were retried to the end: more faults than the one unrecoverable device's.
    expect(report.faults).toBeGreaterThan(3);
    expect(report.server.downloads).toBeGreaterThanOrEqual(5);
    expect(lines.some((line) => line.startsWith('stage 2 (100 %)'))).toBe(true);
  }, 120_000);
});
