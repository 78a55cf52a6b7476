import {
  factoryPartition,
  otaAppPartitions,
  otadataPartition,
  PARTITION_TABLE_OFFSET,
  type PartitionTable,
  parsePartitionTable,
} from '../../emulators/partition-table/index.ts';
import type { Platform } from '../../vocabulary/index.ts';
import { FirmwareSourceError } from './errors.ts';
import type { FlashFile } from './esp-flasher.ts';
import type { FirmwareBuild } from './firmware-source.ts';

/** ESP32's second-stage bootloader offset ([ET5] targets/esp32.py L98; reference §9.1). */
const ESP32_BOOTLOADER_OFFSET = 0x1000;

export interface KnownStateInputs {
  build: FirmwareBuild;
  /** The rig's bootloader .bin, when the build has none (a plain app .bin). */
  bootloader?: Uint8Array;
  /** The rig's partition table .bin, when the build has none. */
  partitionTable?: Uint8Array;
  /** The table the device holds now (read at 0x8000), the last resort for the layout. */
  deviceTable?: Uint8Array;
}

export interface KnownStatePlan {
  files: FlashFile[];
  /** Where the app goes, and the table that says so (ESP32). */
  appAddress: number;
  table?: PartitionTable;
}

/**
 * What brings a board to a known state (issue 10): on ESP32 the bootloader and partition table
 * when the rig has them, an erased otadata partition (all 0xFF, as ESP-IDF's
 * ota_data_initial.bin: no valid entry, so the bootloader boots the factory app, else ota_0 —
 * reference/esp-idf.md §3) and the app at the factory partition (else ota_0); on ESP8266 the
 * sketch .bin at 0x0, as the Arduino IDE and PlatformIO upload it (reference §9.3).
 */
export function planKnownState(inputs: KnownStateInputs, platform: Platform): KnownStatePlan {
  const { build } = inputs;
  if (platform === 'esp8266') {
    return { files: [{ name: 'sketch', address: 0, data: build.app }], appAddress: 0 };
  }
  const fromBuild = (name: string) => build.parts.find((part) => part.name === name);
  const files: FlashFile[] = [];
  const bootloader = fromBuild('bootloader');
  if (bootloader) files.push({ name: 'bootloader', address: bootloader.address!, data: bootloader.data });
  else if (inputs.bootloader)
    files.push({ name: 'bootloader', address: ESP32_BOOTLOADER_OFFSET, data: inputs.bootloader });
  const tablePart = fromBuild('partition-table');
  const tableBytes = tablePart?.data ?? inputs.partitionTable ?? inputs.deviceTable;
  const tableAddress = tablePart?.address ?? PARTITION_TABLE_OFFSET;
  if (tableBytes === undefined)
    throw new FirmwareSourceError(
      `firmware ${build.source}: no partition table (name one in firmware.partitionTable, or use a build folder)`,
    );
  let table: PartitionTable;
  try {
    table = parsePartitionTable(tableBytes);
  } catch (error) {
    throw new FirmwareSourceError(
      `firmware ${build.source}: the partition table is not valid: ${(error as Error).message}`,
    );
  }
  if (tablePart || inputs.partitionTable)
    files.push({ name: 'partition-table', address: tableAddress, data: tableBytes });
  const otadata = otadataPartition(table);
  if (otadata) {
    const initial = fromBuild('otadata');
    files.push({
      name: 'otadata',
      address: otadata.offset,
      data: initial?.data ?? new Uint8Array(otadata.size).fill(0xff),
    });
  }
  const appPart = fromBuild('app');
  const slot = factoryPartition(table) ?? otaAppPartitions(table)[0];
  const appAddress = appPart?.address ?? slot?.offset;
  if (appAddress === undefined)
    throw new FirmwareSourceError(`firmware ${build.source}: the partition table has no app partition`);
  const target = table.entries.find((entry) => entry.offset === appAddress);
  if (target && build.app.length > target.size)
    throw new FirmwareSourceError(
      `firmware ${build.source}: the app (${build.app.length} bytes) does not fit partition ${target.label} (${target.size} bytes)`,
    );
  files.push({ name: 'app', address: appAddress, data: build.app });
  return { files, appAddress, table };
}
