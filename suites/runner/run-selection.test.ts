import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failuresToRerun, parseShard, RunSelectionError, shardTargets } from './run-selection.ts';

const named = (...names: string[]) => names.map((name) => ({ name }));

describe('run selection', () => {
  it('deals targets to shards round-robin by name: disjoint, together every target once', () => {
    const targets = named('e', 'a', 'd', 'b', 'c');
    const shares = [1, 2, 3].map((index) => shardTargets(targets, { index, count: 3 }).map((t) => t.name));
    expect(shares).toEqual([['a', 'd'], ['b', 'e'], ['c']]);
    expect(shares.flat().sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('refuses a shard that is malformed or would get no target', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/2', '3/2', '1/0', '1', 'a/b'])
      expect(() => parseShard(bad)).toThrow(RunSelectionError);
    expect(() => shardTargets(named('a'), { index: 2, count: 2 })).toThrow(/leave this shard none/);
  });

  it('re-runs the failed requirements of each target, a target that did not start whole, and refuses a run with none', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rerun-')), 'results.jsonl');
    const line = (target: string, id: string, outcome: string) => JSON.stringify({ target, id, outcome });
    writeFileSync(
      file,
      [
        JSON.stringify({ kind: 'ota-conformance-run', runId: 'x' }),
        line('a', 'p/g/1', 'pass'),
        line('a', 'p/g/2', 'fail'),
        line('a', 'p/g/3', 'rig-error'),
        line('b', 'b/rig', 'rig-error'),
        line('c', 'p/g/1', 'skip'),
      ].join('\n'),
    );
    expect(failuresToRerun(file)).toEqual(
      new Map([
        ['a', ['p/g/2', 'p/g/3']],
        ['b', undefined],
      ]),
    );
    writeFileSync(file, line('a', 'p/g/1', 'pass'));
    expect(() => failuresToRerun(file)).toThrow(/nothing to re-run/);
  });
});
