import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { formatHarnessIdentity, harnessIdentity } from '../reports/harness-identity.ts';
import { registerBenchCommand } from './commands/bench.ts';
import { prepareEmulateHelp, registerEmulateCommand } from './commands/emulate.ts';
import { registerEmulatorHostCommand } from './commands/emulator-host.ts';
import { registerFlashCommand } from './commands/flash.ts';
import { registerFleetCommand } from './commands/fleet.ts';
import { registerImageCommand } from './commands/image.ts';
import { registerKillMatrixCommand } from './commands/kill-matrix.ts';
import { registerListCommand } from './commands/list.ts';
import { registerPowercutCommand } from './commands/powercut.ts';
import { registerReportCommand } from './commands/report.ts';
import { registerRunCommand } from './commands/run.ts';
import { registerServeCommand } from './commands/serve.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Builds the command tree. Each verb lives in its own file under bin/commands/. */
export function buildProgram(): Command {
  const program = new Command('ota-conformance')
    .description('Conformance and hardware-in-the-loop tests for ESP32/ESP8266 OTA updates')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    // Program options only before the verb: `image build --version 3.1.4` is the image's version.
    .enablePositionalOptions()
    .option('-V, --version', 'print the version, and the git commit it was built from when known');
  program.on('option:version', () => {
    process.stdout.write(`${formatHarnessIdentity(harnessIdentity(PROJECT_ROOT))}\n`);
    throw new CommanderError(0, 'commander.version', 'version printed');
  });
  registerImageCommand(program);
  registerEmulateCommand(program);
  registerEmulatorHostCommand(program);
  registerFlashCommand(program);
  registerRunCommand(program);
  registerListCommand(program);
  registerKillMatrixCommand(program);
  registerPowercutCommand(program);
  registerFleetCommand(program);
  registerReportCommand(program);
  registerServeCommand(program);
  registerBenchCommand(program);
  return program;
}

/** Runs the CLI and returns the process exit code (0 ok, 1 a device failed, 2 bad input, 3 rig errors or nothing ran; `run --help`). */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  // `emulate --help` lists every firmware's options: they load only for that help.
  if (argv[2] === 'emulate' && (argv.includes('--help') || argv.includes('-h'))) await prepareEmulateHelp();
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`ota-conformance: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
}
