import { describe, expect, it } from 'vitest';
import type { Target } from '../../../drivers/target/index.ts';
import { noRebootWindowMs } from './observe.ts';

/** Only what noRebootWindowMs reads: the description's limits and options. */
const targetWith = (description: {
  limits?: { rebootTimeoutMs?: number };
  options?: Record<string, unknown>;
}) => ({ description }) as unknown as Target;

describe('noRebootWindowMs', () => {
  it("is the rig's rebootTimeoutMs (at most 3 s), else the firmware's restart delay plus 150 ms, else 600 ms", () => {
    expect(
      noRebootWindowMs(targetWith({ limits: { rebootTimeoutMs: 1_200 }, options: { restartDelayMs: 50 } })),
    ).toBe(1_200);
    expect(noRebootWindowMs(targetWith({ limits: { rebootTimeoutMs: 20_000 } }))).toBe(3_000);
    expect(noRebootWindowMs(targetWith({ options: { restartDelayMs: 50 } }))).toBe(200);
    expect(noRebootWindowMs(targetWith({ options: { restartDelayMs: 1_000 } }))).toBe(1_150);
    expect(noRebootWindowMs(targetWith({ options: { restartDelayMs: 0 } }))).toBe(150);
    expect(noRebootWindowMs(targetWith({}))).toBe(600);
    // Not a delay: the default.
    expect(noRebootWindowMs(targetWith({ options: { restartDelayMs: '50' } }))).toBe(600);
    expect(noRebootWindowMs(targetWith({ options: { restartDelayMs: -1 } }))).toBe(600);
  });
});
