/**
 * The seeded fuzz set of `npm test`: every `*.fuzz.ts` target, 300 cases each from a fixed seed
 * (the full 100,000 per parser and the network fuzzing run in `npm run fuzz`). A crash fails with
 * its replay command.
 */
import { describe, expect, it } from 'vitest';
import { fuzz } from './engine.ts';
import { findFuzzTargets } from './find-targets.ts';

const SEED = 20261207;
const targets = await findFuzzTargets();

describe('fuzz targets (seeded, 300 cases each)', () => {
  it('finds a fuzz target for each parser family', () => {
    const names = targets.map(({ target }) => target.name.split('/')[0]);
    for (const family of ['http', 'espota', 'mqtt', 'rom-loader', 'rigs', 'images', 'flash'])
      expect(names, family).toContain(family);
  });

  it.each(targets.map(({ file, target }) => [target.name, file, target] as const))(
    '%s (%s)',
    (_name, _file, target) => {
      const outcome = fuzz(target, { seed: SEED, cases: 300 });
      expect(
        outcome.crashes.map((crash) => `case ${crash.index}: ${crash.error.split('\n')[0]}`),
        `replay: npm run fuzz -- --seed ${SEED} --target '${target.name}' --case <n> --no-network`,
      ).toEqual([]);
    },
  );
});
