/**
 * The seeded fuzz set of `npm test`: every `*.fuzz.ts` target, 300 cases each from a fixed seed,
 * and one pull profile's network fuzzing cut to 20 hostile answers (the full 100,000 per parser
 * and the network fuzzing of every profile run in `npm run fuzz`). A crash fails with its replay
 * command.
 */
import { describe, expect, it } from 'vitest';
import { fuzz } from './engine.ts';
import { findFuzzTargets } from './find-targets.ts';
import { resolveOnlyLocalhost } from './loopback-only.ts';
import { fuzzPullProfile, PULL_PROFILES } from './network-pull.ts';

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

describe('network fuzzing of a pull profile (seeded, 20 hostile answers)', () => {
  // The Arduino ESP8266 client: plain HTTP (no certificates to make), no reboot per failure, and
  // its update server's faults reach every stage of ESP8266httpUpdate. About a second.
  it('http-update/esp8266 keeps downloading through 20 hostile answers, then a valid update boots', async () => {
    const profile = PULL_PROFILES.find(({ name }) => name === 'http-update/esp8266')!;
    const lines: string[] = [];
    const restoreLookup = resolveOnlyLocalhost();
    const passed = await fuzzPullProfile(profile, {
      seed: SEED,
      count: 20,
      write: (line) => lines.push(line),
    }).finally(restoreLookup);
    expect(passed, lines.join('\n')).toBe(true);
    expect(lines.join('\n')).toMatch(
      /http-update\/esp8266 \(pull\) +2\d answers +still downloads, valid update boots 7\.7\.7/,
    );
  });
});
