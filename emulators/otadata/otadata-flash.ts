/**
 * The otadata partition on flash: entry 0 in its first 4 KiB sector, entry 1 in its second
 * (reference/esp-idf.md §3.2). Every real writer (bootloader `write_otadata`, app `rewrite_ota_seq`)
 * erases the entry's sector and then programs the 32 bytes.
 */
import type { PartitionEntry } from '../partition-table/index.ts';
import {
  decodeOtaEntry,
  encodeOtaEntry,
  OTA_SELECT_ENTRY_SIZE,
  OtadataError,
  type OtaSelectEntry,
} from './ota-select-entry.ts';

export const OTADATA_SECTOR_SIZE = 0x1000;
export const OTADATA_MIN_SIZE = 2 * OTADATA_SECTOR_SIZE;

/** What otadata needs from a flash chip; emulators/flash NorFlash provides it. */
export interface OtadataFlash {
  read(offset: number, length: number): Uint8Array;
  eraseSector(offset: number): void;
  program(offset: number, data: Uint8Array): void;
}

type OtadataLocation = Pick<PartitionEntry, 'offset' | 'size'>;

export type OtadataWriteOrder = 'erase-then-write' | 'in-place';

function entryAddress(otadata: OtadataLocation, index: 0 | 1): number {
  if (otadata.size < OTADATA_MIN_SIZE) {
    // The bootloader's wording (bootloader_common_read_otadata); it then refuses to pick a partition.
    throw new OtadataError(
      'otadata-too-small',
      `ota_info partition size ${otadata.size} is too small (minimum ${OTADATA_MIN_SIZE} bytes)`,
    );
  }
  return otadata.offset + index * OTADATA_SECTOR_SIZE;
}

export function readOtadata(flash: OtadataFlash, otadata: OtadataLocation): [OtaSelectEntry, OtaSelectEntry] {
  return [
    decodeOtaEntry(flash.read(entryAddress(otadata, 0), OTA_SELECT_ENTRY_SIZE)),
    decodeOtaEntry(flash.read(entryAddress(otadata, 1), OTA_SELECT_ENTRY_SIZE)),
  ];
}

/**
 * Writes one entry. An entry that carries `crc` is written with that CRC as given (so a deliberately
 * wrong one can be stored); without it the CRC is computed from `seq`.
 *
 * `in-place` skips the erase. It exists only for the defect catalog: NOR programming can only clear
 * bits, so the new bytes are ANDed into the old entry and, unless the sector was blank, the stored
 * entry is usually neither the old nor the new one.
 */
export function writeOtadataEntry(
  flash: OtadataFlash,
  otadata: OtadataLocation,
  index: 0 | 1,
  entry: OtaSelectEntry | { seq: number; state: number; label?: Uint8Array },
  options: { order?: OtadataWriteOrder } = {},
): void {
  const address = entryAddress(otadata, index);
  const bytes = encodeOtaEntry(entry);
  if ((options.order ?? 'erase-then-write') === 'erase-then-write') flash.eraseSector(address);
  flash.program(address, bytes);
}
