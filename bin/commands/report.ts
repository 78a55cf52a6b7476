import type { Command } from 'commander';

const DEFAULT_OUT = 'reports/out';

/**
 * `ota-conformance report bundle [run]`: one archive a vendor hands over.
 * `ota-conformance report merge <run>…`: the runs of several benches or shards as one report.
 */
export function registerReportCommand(program: Command): void {
  const report = program
    .command('report')
    .description('Bundle a run for hand-over, or merge runs into one report');
  report
    .command('bundle')
    .description(
      'Write one .tar.gz with the run metadata, matrix, JUnit, Allure report, logs, wire transcripts, image SHA-256s and a script that re-runs the failures',
    )
    .argument('[run]', 'a run folder, or an --out root whose latest run to bundle', DEFAULT_OUT)
    .option('--out <file>', 'the archive (default: <run-id>.tar.gz beside the run folder)')
    .action(async (run: string, flags: { out?: string }) => {
      const { writeVendorBundle } = await import('../../reports/bundle/vendor-bundle.ts');
      const bundle = await writeVendorBundle(run, flags);
      process.stdout.write(
        `${bundle.file}\n${bundle.entries.length} files; ${bundle.failed} failed requirement(s), re-run with rerun-failed.sh\n`,
      );
    });
  report
    .command('merge')
    .description('Merge runs (shards, benches) into one run folder: one matrix, one JUnit, one Allure report')
    .argument('<runs...>', 'run folders, or --out roots whose latest run to take')
    .option('--out <dir>', 'root of the merged run folder (default reports/out)', DEFAULT_OUT)
    .action(async (runs: string[], flags: { out: string }) => {
      const { mergeRuns } = await import('../../reports/merge/merge-runs.ts');
      const merged = await mergeRuns(runs, { out: flags.out });
      for (const note of merged.notes) process.stdout.write(`note: ${note}\n`);
      process.stdout.write(
        `${merged.run.dir}\n${merged.results.length} results from ${runs.length} run(s), ${merged.matrix.targets.length} targets × ${merged.matrix.rows.length} requirements\n`,
      );
      process.exitCode = merged.exitCode;
    });
}
