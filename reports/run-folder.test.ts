import { mkdtempSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { latestRunFolder, openRunFolder, runIdFor } from './run-folder.ts';

describe('run folders', () => {
  it('names a run by UTC time and process, sortable', () => {
    expect(runIdFor(new Date('2026-12-07T04:05:06.789Z'), 4711)).toBe('20261207-040506-4711');
    expect(runIdFor(new Date('2026-12-07T04:05:06Z'), 4711, 'shard1of2')).toBe(
      '20261207-040506-4711-shard1of2',
    );
  });

  it('gives every run a folder of its own and points latest at the newest, even within one second', () => {
    const root = mkdtempSync(join(tmpdir(), 'run-folder-'));
    const now = new Date('2026-12-07T04:05:06Z');
    const first = openRunFolder(root, { now });
    writeFileSync(join(first.dir, 'junit.xml'), '<testsuites/>');
    const second = openRunFolder(root, { now });
    expect(second.dir).not.toBe(first.dir);
    expect(readlinkSync(join(root, 'latest'))).toBe(second.id);
    expect(latestRunFolder(root)).toBe(second.dir);
    expect(second.root).toBe(root);
  });
});
