import type { Command } from 'commander';

/**
 * `ota-conformance kill-matrix`: proves every check can fail — each profile's suites against its
 * conforming emulator, the update-server suites against the reference update server, and each
 * once per catalogued defect. Exit 1 when a defect survives, a MUST requirement catches nothing,
 * or a conforming target fails.
 */
export function registerKillMatrixCommand(program: Command): void {
  program
    .command('kill-matrix')
    .description(
      'Run the suites against every defect of the emulators and of the reference update server and write <out>/kill-matrix.md (progress on stderr)',
    )
    .option(
      '--profile <profile>',
      'only this profile (update-server: the reference update server); repeatable',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option('--json', 'print the matrix as JSON')
    .option(
      '--out <dir>',
      'where kill-matrix.md and kill-matrix.json go; the runs go in <out>/kill-matrix/ (default reports/out)',
    )
    .action(async (flags: { profile: string[]; json?: boolean; out?: string }) => {
      const { formatKillMatrix, runKillMatrix } = await import('../../suites/runner/kill-matrix.ts');
      const matrix = await runKillMatrix({
        profiles: flags.profile.length ? flags.profile : undefined,
        ...(flags.out ? { outDir: flags.out } : {}),
        progress: (text) => process.stderr.write(text),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(matrix)}\n` : formatKillMatrix(matrix));
      const complete =
        matrix.survivors.length === 0 &&
        matrix.toothless.length === 0 &&
        matrix.conformingFailures.length === 0 &&
        matrix.missedNamed.length === 0;
      process.exitCode = complete ? 0 : 1;
    });
}
