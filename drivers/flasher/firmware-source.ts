import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { IMAGE_MAGIC, parseEsp32Image } from '../../fixtures/esp32-image/index.ts';
import { readSketchDescriptor } from '../../fixtures/esp8266-sketch/index.ts';
import type { Platform } from '../../vocabulary/index.ts';
import type { TargetDescription } from '../target/index.ts';
import { FirmwareSourceError } from './errors.ts';

/** What a firmware build puts where (the offsets its own flasher would use). */
export interface FirmwarePart {
  name: 'bootloader' | 'partition-table' | 'otadata' | 'app';
  /** Absent for the app of a plain .bin: it goes where the partition table puts the first app. */
  address?: number;
  data: Uint8Array;
  file: string;
}

/** One vendor build, read from what the rig names. */
export interface FirmwareBuild {
  /** Where it came from, as the rig named it (absolute). */
  source: string;
  format: 'bin' | 'esp-idf-build' | 'platformio-build';
  platform: Platform;
  /** The app image (ESP32) or the whole sketch .bin, eboot included (ESP8266). */
  app: Uint8Array;
  /** The app's version: the ESP32 app descriptor, the ESP8266 sketch descriptor, or the rig. */
  version: string | undefined;
  projectName: string | undefined;
  secureVersion: number;
  /** Bootloader, partition table, initial otadata when the build folder has them. */
  parts: FirmwarePart[];
}

/**
 * Reads a vendor build: an app `.bin` (an ESP32 app image, or an ESP8266 Arduino sketch .bin with
 * eboot at 0 and the app at 0x1000, reference/esp-serial-flasher.md §9.3), an ESP-IDF `build/`
 * folder (`flasher_args.json`: `flash_files` offsets as hex strings, paths relative to the build
 * folder, §9.1), or a PlatformIO `.pio/build/<env>/` folder (`firmware.bin`, `bootloader.bin`,
 * `partitions.bin`, `ota_data_initial.bin`, §9.2).
 */
export function readFirmwareBuild(
  path: string,
  platform: Platform,
  options: { version?: string } = {},
): FirmwareBuild {
  const source = resolve(path);
  if (!existsSync(source)) throw new FirmwareSourceError(`firmware ${path}: no such file or folder`);
  if (statSync(source).isDirectory()) {
    if (existsSync(join(source, 'flasher_args.json'))) return fromIdfBuild(source, platform, options);
    if (existsSync(join(source, 'firmware.bin'))) return fromPlatformIo(source, platform, options);
    throw new FirmwareSourceError(
      `firmware ${path}: a folder without flasher_args.json (ESP-IDF build/) or firmware.bin (PlatformIO .pio/build/<env>/)`,
    );
  }
  const app = readBinary(source);
  return { source, format: 'bin', platform, ...describeApp(app, source, platform, options), parts: [] };
}

function fromIdfBuild(folder: string, platform: Platform, options: { version?: string }): FirmwareBuild {
  const argsFile = join(folder, 'flasher_args.json');
  let args: {
    flash_files?: Record<string, string>;
    app?: { offset: string; file: string };
    bootloader?: { offset: string; file: string };
    'partition-table'?: { offset: string; file: string };
    otadata?: { offset: string; file: string };
  };
  try {
    args = JSON.parse(readFileSync(argsFile, 'utf8'));
  } catch (error) {
    throw new FirmwareSourceError(`firmware ${argsFile}: not readable JSON: ${(error as Error).message}`);
  }
  if (args.app === undefined)
    throw new FirmwareSourceError(`firmware ${argsFile}: no "app" entry (offset and file of the app image)`);
  const part = (
    name: FirmwarePart['name'],
    entry: { offset: string; file: string } | undefined,
  ): FirmwarePart | undefined => {
    if (entry === undefined) return undefined;
    const address = Number.parseInt(entry.offset, 16);
    if (!Number.isInteger(address))
      throw new FirmwareSourceError(
        `firmware ${argsFile}: ${name}.offset "${entry.offset}" is not a hex offset`,
      );
    const file = join(folder, entry.file);
    return { name, address, data: readBinary(file), file };
  };
  const parts = [
    part('bootloader', args.bootloader),
    part('partition-table', args['partition-table']),
    part('otadata', args.otadata),
  ].filter((p) => p !== undefined);
  const app = part('app', args.app)!;
  return {
    source: folder,
    format: 'esp-idf-build',
    platform,
    ...describeApp(app.data, app.file, platform, options),
    parts: [...parts, app],
  };
}

function fromPlatformIo(folder: string, platform: Platform, options: { version?: string }): FirmwareBuild {
  const appFile = join(folder, 'firmware.bin');
  const app = readBinary(appFile);
  // `board_build.gzip_fw` renames the gzipped OTA payload to firmware.bin (T25, §9.3): never
  // serial-flash it at 0x0.
  if (app[0] === 0x1f && app[1] === 0x8b) {
    throw new FirmwareSourceError(
      `firmware ${appFile} is gzip data (board_build.gzip_fw): that is an OTA payload; name firmware.bin.orig instead`,
    );
  }
  const parts: FirmwarePart[] = [];
  if (platform === 'esp32') {
    // ESP32 offsets of PlatformIO's ESP-IDF and Arduino builds (§9.2): bootloader 0x1000,
    // partitions 0x8000, the app at 0x10000. boot_app0.bin lives in the framework package.
    const optional = (name: FirmwarePart['name'], file: string, address: number) => {
      const path = join(folder, file);
      if (existsSync(path)) parts.push({ name, address, data: readBinary(path), file: path });
    };
    optional('bootloader', 'bootloader.bin', 0x1000);
    optional('partition-table', 'partitions.bin', 0x8000);
  }
  return {
    source: folder,
    format: 'platformio-build',
    platform,
    ...describeApp(app, appFile, platform, options),
    parts: [
      ...parts,
      { name: 'app', ...(platform === 'esp8266' ? { address: 0 } : {}), data: app, file: appFile },
    ],
  };
}

function describeApp(
  app: Uint8Array,
  file: string,
  platform: Platform,
  options: { version?: string },
): Pick<FirmwareBuild, 'app' | 'version' | 'projectName' | 'secureVersion'> {
  if (app[0] !== IMAGE_MAGIC)
    throw new FirmwareSourceError(
      `firmware ${file}: not an app image (first byte 0x${hex(app[0])}, expected 0xe9)`,
    );
  if (platform === 'esp32') {
    const image = parseEsp32Image(app);
    const descriptor = image.appDescriptor;
    if (descriptor === undefined)
      throw new FirmwareSourceError(`firmware ${file}: an ESP32 app image without an app descriptor`);
    return {
      app,
      version: options.version ?? descriptor.version,
      projectName: descriptor.projectName,
      secureVersion: descriptor.secureVersion,
    };
  }
  // An Arduino sketch .bin: eboot at 0, the app image at 0x1000 (§9.3).
  if (app.length <= 0x1000 || app[0x1000] !== IMAGE_MAGIC)
    throw new FirmwareSourceError(
      `firmware ${file}: not an ESP8266 Arduino sketch .bin (eboot at 0x0, the app image at 0x1000)`,
    );
  const descriptor = readSketchDescriptor(app);
  return {
    app,
    version: options.version ?? descriptor?.version,
    projectName: descriptor?.projectName,
    secureVersion: 0,
  };
}

function readBinary(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    throw new FirmwareSourceError(
      `firmware ${file}: cannot read it: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
}

function hex(value: number | undefined): string {
  return (value ?? 0).toString(16).padStart(2, '0');
}

/** `baseline` or `update` from the rig's firmware, or a file or build folder. */
export type ImageChoice = 'baseline' | 'update' | { path: string; version?: string };

/** The rig's build for a role, read from disk. */
export function firmwareFor(description: TargetDescription, choice: ImageChoice): FirmwareBuild {
  const platform = description.platform;
  if (platform === undefined)
    throw new FirmwareSourceError(
      `target ${description.name}: the rig does not say its platform (esp32 or esp8266), so no firmware can be read`,
    );
  if (typeof choice === 'object')
    return readFirmwareBuild(choice.path, platform, { version: choice.version });
  const entry = description.firmware?.[choice];
  if (entry === undefined)
    throw new FirmwareSourceError(`target ${description.name}: the rig names no firmware.${choice}`);
  return typeof entry === 'string'
    ? readFirmwareBuild(entry, platform)
    : readFirmwareBuild(entry.path, platform, { version: entry.version });
}
