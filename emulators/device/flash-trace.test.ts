import { describe, expect, it } from 'vitest';
import { FlashTrace } from './flash-trace.ts';

describe('FlashTrace', () => {
  it('keeps at least the last 200 000 operations, in order, however many the device made', () => {
    const trace = new FlashTrace();
    const total = 235_000;
    for (let index = 0; index < total; index++)
      trace.record({
        kind: 'program',
        offset: (index % 1024) * 256,
        length: 256,
        startMs: 0,
        endMs: 0,
        completed: true,
      });
    const window = trace.since(0);
    expect(trace.count).toBe(total);
    expect(window.operations.length).toBeGreaterThanOrEqual(200_000);
    expect(window.operations.at(-1)?.index).toBe(total - 1);
    const first = window.operations[0]!.index;
    expect(window.operations.every((operation, position) => operation.index === first + position)).toBe(true);
    expect(trace.since(total - 3).operations.map((operation) => operation.index)).toEqual([
      total - 3,
      total - 2,
      total - 1,
    ]);
  });
});
