import type { Command } from 'commander';
import { formatKillMatrix, runKillMatrix } from '../../suites/runner/kill-matrix.ts';

/**
 * `ota-conformance kill-matrix`: proves every check can fail — each profile's suites against its
 * conforming emulator and once per catalogued defect. Exit 1 when a defect survives, a MUST
 * requirement catches nothing, or a conforming emulator fails.
 */
export function registerKillMatrixCommand(program: Command): void {
  program
    .command('kill-matrix')
    .description('Run the suites against every defect of the emulators and write reports/out/kill-matrix.md')
    .option('--profile <profile>', 'only this profile; repeatable', (v: string, p: string[]) => [...p, v], [])
    .option('--json', 'print the matrix as JSON')
    .action(async (flags: { profile: string[]; json?: boolean }) => {
      const matrix = await runKillMatrix({ profiles: flags.profile.length ? flags.profile : undefined });
      process.stdout.write(flags.json ? `${JSON.stringify(matrix)}\n` : formatKillMatrix(matrix));
      const complete =
        matrix.survivors.length === 0 &&
        matrix.toothless.length === 0 &&
        matrix.conformingFailures.length === 0 &&
        matrix.missedNamed.length === 0;
      process.exitCode = complete ? 0 : 1;
    });
}
