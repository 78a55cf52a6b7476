import { describe, expect, it } from 'vitest';
import { SectorBuffer } from './sector-buffer.ts';

/** A buffer in front of an update of `size` bytes whose flushes are recorded (and may fail). */
function harness(capacity: number, size: number, failFlushAt = -1) {
  const buffer = new SectorBuffer(capacity);
  const flushed: number[][] = [];
  let written = 0;
  const remaining = () => size - written;
  const flush = () => {
    if (flushed.length === failFlushAt) return false;
    flushed.push([...buffer.held()]);
    written += buffer.length;
    buffer.length = 0;
    return true;
  };
  return { buffer, flushed, write: (data: number[]) => buffer.fill(Uint8Array.from(data), remaining, flush) };
}

describe('SectorBuffer.fill', () => {
  it('holds bytes until the buffer is over-full, then flushes whole buffers', () => {
    const { buffer, flushed, write } = harness(4, 100);
    expect(write([1, 2, 3])).toBe(3);
    expect(flushed).toEqual([]);
    expect(write([4, 5, 6, 7, 8, 9, 10])).toBe(7);
    expect(flushed).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    expect([...buffer.held()]).toEqual([9, 10]);
  });

  it('keeps a buffer that is exactly full until more data or the end of the update', () => {
    const { flushed, write } = harness(4, 100);
    expect(write([1, 2, 3, 4])).toBe(4);
    expect(flushed).toEqual([]);
  });

  it('flushes what it holds once that completes the update', () => {
    const { flushed, write } = harness(4, 6);
    expect(write([1, 2, 3, 4, 5])).toBe(5);
    expect(flushed).toEqual([[1, 2, 3, 4]]);
    expect(write([6])).toBe(1);
    expect(flushed).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
  });

  it('reports only the bytes before a failed flush as taken', () => {
    expect(harness(4, 100, 1).write([1, 2, 3, 4, 5, 6, 7, 8, 9])).toBe(4);
    expect(harness(4, 100, 0).write([1, 2, 3, 4, 5])).toBe(0);
    expect(harness(4, 3, 0).write([1, 2, 3])).toBe(0);
    expect(harness(4, 3).write([1, 2, 3])).toBe(3);
  });
});
