import type { Command } from 'commander';

/** `ota-conformance list`: every requirement with ID, level, text and source, without running anything. */
export function registerListCommand(program: Command): void {
  program
    .command('list')
    .description('List every requirement (ID, level, text, source) without running anything')
    .option('--grep <id-prefix>', 'only requirements whose ID starts with this')
    .option('--json', 'one JSON array instead of a table')
    .action(async (flags: { grep?: string; json?: boolean }) => {
      const { listRequirements } = await import('../../suites/runner/list-requirements.ts');
      const requirements = await listRequirements({ grep: flags.grep });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(requirements, null, 2)}\n`);
        return;
      }
      for (const r of requirements) {
        process.stdout.write(
          `${r.id.padEnd(28)} ${r.level.padEnd(6)} ${r.text}\n${' '.repeat(36)}source: ${r.source}\n`,
        );
      }
      const levels = ['MUST', 'SHOULD', 'MAY'].map(
        (level) => `${requirements.filter((r) => r.level === level).length} ${level}`,
      );
      process.stdout.write(`\n${requirements.length} requirements: ${levels.join(', ')}\n`);
    });
}
