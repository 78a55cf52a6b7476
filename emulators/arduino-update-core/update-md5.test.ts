import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UpdateMd5 } from './update-md5.ts';

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

describe('UpdateMd5', () => {
  it('takes a 32-character target only, normalised after the length check', () => {
    const sum = new UpdateMd5();
    expect(sum.setTarget('A'.repeat(31))).toBe(false);
    expect(sum.target).toBe('');
    expect(sum.setTarget('A'.repeat(32), (value) => value.toLowerCase())).toBe(true);
    expect(sum.target).toBe('a'.repeat(32));
  });

  it('hashes what was flushed so far, keeps the digest end() took, and restarts on begin()', () => {
    const sum = new UpdateMd5();
    sum.update(new TextEncoder().encode('ab'));
    expect(sum.hex()).toBe(md5('ab'));
    expect(sum.finished()).toBe('');
    expect(sum.finish()).toBe(md5('ab'));
    sum.update(new TextEncoder().encode('c'));
    expect(sum.hex()).toBe(md5('ab'));
    expect(sum.finished()).toBe(md5('ab'));
    sum.setTarget('f'.repeat(32));
    sum.restart();
    expect(sum.finished()).toBe('');
    expect(sum.hex()).toBe(md5(''));
    expect(sum.target).toBe('f'.repeat(32));
  });
});
