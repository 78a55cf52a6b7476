import { join } from 'node:path';
import { type Command, Option } from 'commander';

interface BenchFlags {
  rig?: string;
  target: string[];
  sizes?: string;
  runs: string;
  warmup: string;
  imageKib: string;
  timing?: 'none' | 'esp32' | 'esp8266';
  json?: string;
  compare?: string;
  out?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export class BenchArgumentError extends Error {
  readonly code = 'BENCH_USAGE';
}

function wholeNumber(flag: string, value: string, min: number): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < min)
    throw new BenchArgumentError(`${flag}: expected a whole number ≥ ${min}, got '${value}'`);
  return number;
}

/**
 * `ota-conformance bench`: write-path throughput of any target of a rig, emulator or board, over
 * its own protocol, with the baseline clients people use today where there is one (the seed's
 * Python client and a raw socket for ViperHTTP, curl for the web form).
 */
export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description(
      "Measure the write path of a rig's targets (KB/s per chunk size and client, phases, median/p5/p95/CV)",
    )
    .option('--rig <file>', 'rig file listing the targets (default rigs/emulators.json)')
    .option('--target <name>', 'bench only this rig target; repeatable', collect, [])
    .option('--sizes <bytes,…>', 'chunk or block sizes in bytes (default: per protocol, up to its limit)')
    .option('--runs <n>', 'recorded runs per client and size', '5')
    .option('--warmup <n>', 'unrecorded runs per client and size before them', '1')
    .option('--image-kib <n>', 'image size per run in KiB (ESP32 image, ESP8266 app)', '256')
    .addOption(
      new Option('--timing <profile>', "flash timing of the rig's emulators (overrides the rig)").choices([
        'none',
        'esp32',
        'esp8266',
      ]),
    )
    .option('--json <file>', 'also write the figures as JSON here (always <out>/bench/bench.json)')
    .option(
      '--compare <old.json>',
      'print the change of each row against an earlier --json, with its noise band',
    )
    .option('--out <dir>', 'report folder (default reports/out): bench/ JSON and SVG charts, allure-results/')
    .addHelpText(
      'after',
      '\nExit codes: 0 every selected target was benched and every run verified; 1 a run failed (the\n' +
        'device did not take or confirm an image); 2 bad arguments or rig; 3 a target could not be benched\n' +
        '(unreachable, no console, a board without its builds; the others still are, and the reason is printed).',
    )
    .action(async (flags: BenchFlags) => {
      const sizes = flags.sizes?.split(',').map((size) => wholeNumber('--sizes', size.trim(), 1));
      const options = {
        ...(flags.rig ? { rig: flags.rig } : {}),
        ...(flags.target.length > 0 ? { targets: flags.target } : {}),
        ...(sizes ? { sizes } : {}),
        runs: wholeNumber('--runs', flags.runs, 1),
        warmup: wholeNumber('--warmup', flags.warmup, 0),
        imageBytes: wholeNumber('--image-kib', flags.imageKib, 4) * 1024,
        ...(flags.timing ? { timing: flags.timing } : {}),
        ...(flags.out ? { outDir: flags.out } : {}),
        progress: (line: string) => process.stderr.write(`${line}\n`),
      };
      const [{ runTargetBench, PROJECT_ROOT }, output, { formatReport }] = await Promise.all([
        import('../../bench/target/target-bench.ts'),
        import('../../bench/target/bench-output.ts'),
        import('../../bench/report.ts'),
      ]);
      const result = await runTargetBench(options);
      for (const report of output.benchTables(result)) process.stdout.write(`${formatReport(report)}\n`);
      if (flags.compare)
        process.stdout.write(`${formatReport(await output.compareTable(result, flags.compare))}\n`);
      const written = await output.writeBenchOutputs(result, {
        outDir: flags.out ?? join(PROJECT_ROOT, 'reports', 'out'),
        ...(flags.json ? { json: flags.json } : {}),
      });
      process.stdout.write(`bench: figures in ${written.json}; charts: ${written.charts.join(', ')}\n`);
      process.exitCode = result.rows.some((row) => row.failed !== undefined)
        ? 1
        : result.skipped.length > 0 || result.rows.length === 0
          ? 3
          : 0;
    });
}
