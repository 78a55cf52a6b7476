import { describe, expect, it } from 'vitest';
import type { Target } from '../../drivers/target/index.ts';
import { cycleOffMs } from './power-off-time.ts';

const target = (description: Record<string, unknown>) => ({ description }) as unknown as Target;

describe('cycleOffMs', () => {
  it('the rig’s power.offTimeMs wins over what a suite asks for, on a board and an emulator alike', () => {
    const board = target({ kind: 'board', power: { type: 'tasmota', url: 'http://plug', offTimeMs: 2000 } });
    expect(cycleOffMs(board, 200)).toBe(2000);
    expect(cycleOffMs(board)).toBe(2000);
  });

  it('without it: 20 ms for an emulator the run started, the suite’s time (or the driver default) for a board', () => {
    expect(cycleOffMs(target({ kind: 'emulator', power: { type: 'emulator-control' } }), 200)).toBe(20);
    expect(cycleOffMs(target({ kind: 'emulator-process', power: { type: 'emulator-control' } }), 200)).toBe(
      20,
    );
    expect(cycleOffMs(target({ kind: 'board', power: { type: 'tasmota', url: 'http://plug' } }), 200)).toBe(
      200,
    );
    expect(cycleOffMs(target({ kind: 'board' }))).toBeUndefined();
  });
});
