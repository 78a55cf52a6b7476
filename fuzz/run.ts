/**
 * `npm run fuzz [-- --cases N] [--seed S] [--target text] [--case I] [--no-network] [--profile P]`:
 * drives every parser declared in a `*.fuzz.ts` file with N seeded cases each (default 100,000) and
 * prints cases, crashes and time per parser; a crash prints the replay command. `--case I` replays
 * one case and prints its input. Then the network fuzzing of every emulator (network.ts);
 * `--profile P` runs only that profile's network fuzzing, which is how a network failure replays.
 * Exit 1 when anything crashed, 2 for bad arguments.
 */
import { parseArgs } from 'node:util';
import { caseFor, type FuzzOutcome, fuzz, structuredBatch } from './engine.ts';
import { findFuzzTargets } from './find-targets.ts';
import { fuzzEmulators, networkProfileNames } from './network.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '20261207' },
    target: { type: 'string' },
    case: { type: 'string' },
    network: { type: 'boolean', default: true },
    'no-network': { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});
const cases = Number(values.cases);
const seed = Number(values.seed);
const only = values.case === undefined ? undefined : Number(values.case);
if (
  !Number.isInteger(cases) ||
  cases <= 0 ||
  !Number.isInteger(seed) ||
  (only !== undefined && !Number.isInteger(only))
) {
  process.stderr.write('fuzz: --cases, --seed and --case take whole numbers\n');
  process.exit(2);
}

if (values.profile !== undefined && !networkProfileNames().includes(values.profile)) {
  process.stderr.write(
    `fuzz: no network profile '${values.profile}'; there are ${networkProfileNames().join(', ')}\n`,
  );
  process.exit(2);
}

const started = performance.now();
const targets =
  values.profile === undefined
    ? (await findFuzzTargets()).filter(({ target }) => !values.target || target.name.includes(values.target))
    : [];
if (targets.length === 0 && values.profile === undefined) {
  process.stderr.write(`fuzz: no fuzz target matches '${values.target ?? ''}'\n`);
  process.exit(2);
}
const outcomes: FuzzOutcome[] = [];
for (const { file, target } of targets) {
  const outcome = fuzz(target, { seed, cases, ...(only === undefined ? {} : { only }) });
  outcomes.push(outcome);
  process.stdout.write(
    `${target.name.padEnd(40)} ${String(outcome.cases).padStart(7)} cases  ${String(outcome.crashes.length).padStart(2)} crashes  ${(outcome.wallMs / 1000).toFixed(1).padStart(6)} s  slowest ${outcome.slowestMs.toFixed(1)} ms  (${file})\n`,
  );
  if (only !== undefined) {
    // The same structured batch the full run drew (its size follows --cases), so it is the same case.
    const replayed = caseFor(target, seed, only, structuredBatch(target, seed, Math.ceil(cases / 4) || 1));
    process.stdout.write(
      `  case ${only} (${replayed.kind}): ${JSON.stringify(Buffer.from(replayed.input).toString('latin1'))}\n`,
    );
  }
  for (const crash of outcome.crashes) {
    process.stdout.write(
      `  CRASH case ${crash.index} (${crash.kind}): replay with npm run fuzz -- --seed ${crash.seed} --target '${crash.target}' --cases ${cases} --case ${crash.index} --no-network\n` +
        `  input: ${JSON.stringify(Buffer.from(crash.input.subarray(0, 200)).toString('latin1'))}\n` +
        `${crash.error
          .split('\n')
          .slice(0, 6)
          .map((line) => `  | ${line}`)
          .join('\n')}\n`,
    );
  }
}
let networkCrashes = 0;
if (values.network && !values['no-network'] && only === undefined && !values.target) {
  const report = await fuzzEmulators({
    seed,
    write: (line) => process.stdout.write(`${line}\n`),
    ...(values.profile === undefined ? {} : { profile: values.profile }),
  });
  networkCrashes = report.failures;
}
const crashes = outcomes.reduce((sum, outcome) => sum + outcome.crashes.length, 0) + networkCrashes;
const total = outcomes.reduce((sum, outcome) => sum + outcome.cases, 0);
process.stdout.write(
  `\n${outcomes.length} parsers, ${total} cases, ${crashes} crashes, ${((performance.now() - started) / 1000).toFixed(1)} s wall\n`,
);
process.exit(crashes > 0 ? 1 : 0);
