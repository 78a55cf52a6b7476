import { describe, expect, it } from 'vitest';
import { bodyReads } from './http-get.ts';

async function* pieces(sizes: number[], failAfter = false): AsyncGenerator<Buffer> {
  let value = 0;
  for (const size of sizes) yield Buffer.alloc(size, value++);
  if (failAfter) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}

async function sizesOf(reads: AsyncIterable<Buffer>): Promise<number[]> {
  const sizes: number[] = [];
  for await (const read of reads) sizes.push(read.length);
  return sizes;
}

describe('bodyReads: the body as the firmware reads it', () => {
  it('hands over full buffers whatever sizes the socket delivered, and the rest at the end', async () => {
    expect(await sizesOf(bodyReads(pieces([300, 1000, 2000, 50]), 1024))).toEqual([1024, 1024, 1024, 278]);
    expect(await sizesOf(bodyReads(pieces([4096]), 1024))).toEqual([1024, 1024, 1024, 1024]);
    expect(await sizesOf(bodyReads(pieces([]), 1024))).toEqual([]);
  });

  it('keeps the bytes in order across the pieces it joins', async () => {
    const reads: Buffer[] = [];
    for await (const read of bodyReads(pieces([3, 3, 3]), 4)) reads.push(read);
    expect(reads.map((read) => [...read])).toEqual([[0, 0, 0, 1], [1, 1, 2, 2], [2]]);
  });

  it('hands over what arrived before the body failed, then the failure', async () => {
    const sizes: number[] = [];
    await expect(
      (async () => {
        for await (const read of bodyReads(pieces([1500], true), 1024)) sizes.push(read.length);
      })(),
    ).rejects.toThrow(/ECONNRESET/);
    expect(sizes).toEqual([1024, 476]);
  });
});
