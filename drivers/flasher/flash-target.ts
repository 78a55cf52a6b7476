import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PARTITION_TABLE_LENGTH, PARTITION_TABLE_OFFSET } from '../../emulators/partition-table/index.ts';
import type { Platform } from '../../vocabulary/index.ts';
import { cleanConsoleLine, parseBootLine } from '../serial/index.ts';
import type { TargetDescription } from '../target/index.ts';
import { controlPlaneLines } from './control-plane-lines.ts';
import { FirmwareSourceError, FlasherBootError } from './errors.ts';
import { EspFlasher, type FlasherOptions, type WrittenFile } from './esp-flasher.ts';
import { type FirmwareBuild, firmwareFor, type ImageChoice } from './firmware-source.ts';
import { planKnownState } from './flash-plan.ts';
import { decodeFlash, type FlashReport } from './flash-report.ts';

export interface FlashTargetOptions {
  image?: ImageChoice;
  log?: (line: string) => void;
  /** How long the app may take to come up after the reset (rig limits.rebootTimeoutMs, default 15 s). */
  bootTimeoutMs?: number;
  connectAttempts?: number;
  connectTimeoutMs?: number;
}

export interface FlashOutcome {
  chip: string;
  build: Pick<FirmwareBuild, 'source' | 'format' | 'version' | 'projectName'>;
  files: WrittenFile[];
  /** The version the console showed after the reset (ESP32 app descriptor line, or the rig's pattern). */
  bootedVersion?: string;
  /** What the app printed up to the moment it answered. */
  bootLog: string[];
  durationMs: number;
}

const DEFAULT_BOOT_TIMEOUT_MS = 15_000;

/** Where the flasher reaches the chip, from the rig's console and power. */
export function flasherOptionsFor(
  description: TargetDescription,
  options: Pick<FlashTargetOptions, 'log' | 'connectAttempts' | 'connectTimeoutMs'> = {},
): FlasherOptions {
  const port = description.console?.port;
  if (port === undefined)
    throw new FirmwareSourceError(
      `target ${description.name}: no console port to flash over (add "console")`,
    );
  const power = description.power;
  return {
    targetName: description.name,
    port,
    platform: platformOf(description),
    baudRate: description.console?.baudRate,
    ...(power?.type === 'emulator-control' ? { lineSink: controlPlaneLines(power.url, power.token) } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.connectAttempts === undefined ? {} : { connectAttempts: options.connectAttempts }),
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
  };
}

/**
 * A known state (issue 10): the bootloader, partition table, an erased otadata and the chosen app
 * written over the serial port with Espressif's flasher, each MD5-verified and read back, then a
 * reset into the app and a wait until it answers: its boot log names the expected version (ESP32
 * app descriptor, or the rig's `versionPattern` on ESP8266), and, for a target reached by URL,
 * its HTTP server responds.
 */
export async function flashTarget(
  description: TargetDescription,
  options: FlashTargetOptions = {},
): Promise<FlashOutcome> {
  const started = Date.now();
  const platform = platformOf(description);
  const build = firmwareFor(description, options.image ?? 'baseline');
  const firmware = description.firmware;
  const readOptional = (path: string | undefined) =>
    path === undefined ? undefined : readFirmwareBuildBytes(path, description.name);
  const flasher = await EspFlasher.connect(flasherOptionsFor(description, options));
  let files: WrittenFile[];
  try {
    const hasTable =
      build.parts.some((part) => part.name === 'partition-table') || firmware?.partitionTable !== undefined;
    const deviceTable =
      platform === 'esp32' && !hasTable
        ? await flasher.read(PARTITION_TABLE_OFFSET, PARTITION_TABLE_LENGTH)
        : undefined;
    const plan = planKnownState(
      {
        build,
        ...(firmware?.bootloader ? { bootloader: readOptional(firmware.bootloader)! } : {}),
        ...(firmware?.partitionTable ? { partitionTable: readOptional(firmware.partitionTable)! } : {}),
        ...(deviceTable ? { deviceTable } : {}),
      },
      platform,
    );
    files = await flasher.write(plan.files);
    await flasher.resetIntoApp();
  } catch (error) {
    await flasher.close();
    throw error;
  }
  let booted: { version?: string; lines: string[] };
  try {
    booted = await waitForApp(flasher, description, build, options.bootTimeoutMs ?? bootTimeout(description));
  } finally {
    await flasher.close();
  }
  if (description.url !== undefined)
    await waitForHttp(description, options.bootTimeoutMs ?? bootTimeout(description));
  return {
    chip: flasher.chipDescription,
    build: {
      source: build.source,
      format: build.format,
      version: build.version,
      projectName: build.projectName,
    },
    files,
    ...(booted.version === undefined ? {} : { bootedVersion: booted.version }),
    bootLog: booted.lines,
    durationMs: Date.now() - started,
  };
}

/** `flash read`: connect, decode the layout from flash, optionally dump a range. */
export async function readTargetFlash(
  description: TargetDescription,
  options: Pick<FlashTargetOptions, 'log' | 'connectAttempts' | 'connectTimeoutMs'> & {
    dump?: { address: number; size: number };
  } = {},
): Promise<{ report: FlashReport; dump?: Uint8Array }> {
  const flasher = await EspFlasher.connect(flasherOptionsFor(description, options));
  try {
    const report = await decodeFlash((address, size) => flasher.read(address, size), platformOf(description));
    const dump = options.dump ? await flasher.read(options.dump.address, options.dump.size) : undefined;
    await flasher.resetIntoApp();
    return { report, ...(dump ? { dump } : {}) };
  } finally {
    await flasher.close();
  }
}

async function waitForApp(
  flasher: EspFlasher,
  description: TargetDescription,
  build: FirmwareBuild,
  timeoutMs: number,
): Promise<{ version?: string; lines: string[] }> {
  // The rig's own line for the running version: firmware.versionPattern, else the
  // bootVersionPattern the suites read (a `version` group, or the first group).
  const own = description.firmware?.versionPattern ?? description.options?.bootVersionPattern;
  const pattern = typeof own === 'string' && own !== '' ? new RegExp(own) : undefined;
  const deadline = Date.now() + timeoutMs;
  let lines: string[] = [];
  while (Date.now() < deadline) {
    lines = flasher
      .printed()
      .split(/\r?\n/)
      .map(cleanConsoleLine)
      .filter((line) => line !== '');
    for (const line of lines) {
      const match = pattern?.exec(line);
      const version = match?.groups?.version ?? match?.[1] ?? versionIn(line);
      if (version !== undefined) {
        if (build.version !== undefined && version !== build.version) {
          throw new FlasherBootError(
            `target ${description.name}: after flashing ${build.version} the board booted ${version}`,
          );
        }
        return { version, lines };
      }
      // ESP8266 without a version pattern: eboot loading the app is as far as the console tells.
      if (pattern === undefined && parseBootLine(line).some((event) => event.kind === 'eboot-load'))
        return { lines };
    }
    await sleep(20);
  }
  throw new FlasherBootError(
    `target ${description.name}: the app did not come up within ${timeoutMs} ms after the reset; it printed: ${lines.slice(-8).join(' | ') || 'nothing'}`,
  );
}

function versionIn(line: string): string | undefined {
  for (const event of parseBootLine(line)) if (event.kind === 'app-version') return event.version;
  return undefined;
}

async function waitForHttp(description: TargetDescription, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(description.url!, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new FlasherBootError(
    `target ${description.name}: the app booted but ${description.url} did not answer within ${timeoutMs} ms (${last})`,
  );
}

function bootTimeout(description: TargetDescription): number {
  return description.limits?.rebootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS;
}

function platformOf(description: TargetDescription): Platform {
  if (description.platform === undefined)
    throw new FirmwareSourceError(
      `target ${description.name}: the rig does not say its platform (esp32 or esp8266), so nothing can be flashed`,
    );
  return description.platform;
}

function readFirmwareBuildBytes(path: string, targetName: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new FirmwareSourceError(`target ${targetName}: cannot read ${path}: ${(error as Error).message}`);
  }
}
