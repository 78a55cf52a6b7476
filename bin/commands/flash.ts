import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';

export class FlashUsageError extends Error {
  readonly code = 'FLASH_USAGE';
}

interface FlashFlags {
  rig: string;
  target: string;
  image: string;
  version?: string;
  json?: boolean;
  verbose?: boolean;
}

interface ReadFlags {
  rig: string;
  target: string;
  out?: string;
  offset: number;
  size?: number;
  json?: boolean;
}

function parseAddress(value: string): number {
  const n = value.startsWith('0x') ? Number.parseInt(value, 16) : Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`"${value}" is not an address (0x… or a number)`);
  return n;
}

/**
 * `ota-conformance flash`: bring a board to a known state over its serial port with Espressif's
 * flasher (esptool-js), and `flash read` to see what it holds. Exit 0 on success, 2 for bad
 * arguments or rig, 3 when the board cannot be reached, flashed or verified (a rig error: nothing
 * about the OTA implementation was judged).
 */
export function registerFlashCommand(program: Command): void {
  program
    .command('flash')
    .argument('[action]', '"read" to read and decode the flash instead of writing it')
    .description(
      'Write the bootloader, partition table, erased otadata and an app over the serial port, verify, boot it; `flash read` decodes what the flash holds',
    )
    .requiredOption('--rig <file>', 'rig file')
    .requiredOption('--target <name>', 'board target in the rig')
    .option(
      '--image <baseline|update|file>',
      "the rig's baseline or update, or a .bin / build folder",
      'baseline',
    )
    .option('--version <v>', 'the version a given file runs (ESP8266 sketches carry none)')
    .option('--out <file>', 'read: also write the raw bytes (from --offset, --size bytes) to this file')
    .option('--offset <address>', 'read: start of the dump', parseAddress, 0)
    .option('--size <bytes>', 'read: length of the dump (default: 4 MiB)', parseAddress)
    .option('--json', 'print the outcome as JSON')
    .option('--verbose', "print esptool-js's progress lines")
    .action(async (action: string | undefined, flags: FlashFlags & ReadFlags) => {
      if (action === 'read') return readFlash(flags);
      if (action !== undefined)
        throw new FlashUsageError(
          `flash ${action}: unknown action; use "flash" to write or "flash read" to read`,
        );
      return writeFlash(flags);
    });
}

async function writeFlash(flags: FlashFlags): Promise<void> {
  const description = await boardDescription(flags.rig, flags.target);
  if (description === undefined) return;
  const { flashTarget } = await import('../../drivers/flasher/index.ts');
  const image =
    flags.image === 'baseline' || flags.image === 'update'
      ? flags.image
      : { path: flags.image, ...(flags.version ? { version: flags.version } : {}) };
  const outcome = await runFlasherStep(() =>
    flashTarget(description, {
      image,
      ...(flags.verbose ? { log: (line: string) => process.stdout.write(`  ${line}\n`) } : {}),
    }),
  );
  if (outcome === undefined) return;
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    return;
  }
  for (const file of outcome.files) {
    process.stdout.write(
      `${file.name.padEnd(16)} 0x${file.address.toString(16).padStart(6, '0')} ${String(file.size).padStart(8)} bytes  md5 ${file.md5}  chip md5 ${file.verifiedMd5 === file.md5 ? 'ok' : file.verifiedMd5}  read back ${file.readBackEqual ? 'equal' : 'DIFFERS'}\n`,
    );
  }
  process.stdout.write(
    `${description.name}: ${outcome.chip}; booted ${outcome.bootedVersion ?? '(version not printed)'} from ${outcome.build.source} in ${outcome.durationMs} ms\n`,
  );
}

async function readFlash(flags: ReadFlags): Promise<void> {
  const description = await boardDescription(flags.rig, flags.target);
  if (description === undefined) return;
  const { formatFlashReport, readTargetFlash } = await import('../../drivers/flasher/index.ts');
  const dump = flags.out ? { address: flags.offset, size: flags.size ?? 4 * 1024 * 1024 } : undefined;
  const result = await runFlasherStep(() => readTargetFlash(description, dump ? { dump } : {}));
  if (result === undefined) return;
  if (flags.out && result.dump) await writeFile(flags.out, result.dump);
  process.stdout.write(
    flags.json ? `${JSON.stringify(result.report, null, 2)}\n` : `${formatFlashReport(result.report)}\n`,
  );
}

async function boardDescription(rigFile: string, targetName: string) {
  const { findTarget, loadRig, resolveSecrets } = await import('../../rigs/index.ts');
  const { describeBoard, resolveBoardPort } = await import('../../drivers/board/index.ts');
  const rig = await loadRig(rigFile);
  const { target } = resolveSecrets(findTarget(rig, targetName));
  if (target.kind !== 'board') {
    throw new FlashUsageError(
      `--target ${targetName}: a ${target.kind} target; flash needs a "board" (console port, and the firmware to write)`,
    );
  }
  // The port the rig's USB identity names (serial number, VID:PID), checked before anything is
  // written: flashing the wrong board is the one mistake this command must never make.
  const board = await runFlasherStep(() => resolveBoardPort(target));
  if (board === undefined) return undefined;
  return describeBoard(board, join(tmpdir(), 'ota-conformance-locks'));
}

/** Flasher failures are rig errors: printed as one line, exit 3. */
async function runFlasherStep<T>(step: () => Promise<T>): Promise<T | undefined> {
  try {
    return await step();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const { BoardIdentityError } = await import('../../drivers/board/index.ts');
    const isBoardIdentity = error instanceof BoardIdentityError;
    if (
      typeof code === 'string' &&
      (code.startsWith('FLASHER_') || code === 'FIRMWARE_SOURCE' || isBoardIdentity)
    ) {
      process.stderr.write(`ota-conformance flash: ${(error as Error).message}\n`);
      process.exitCode = 3;
      return undefined;
    }
    throw error;
  }
}
