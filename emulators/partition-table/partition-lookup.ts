/**
 * The partitions the boot model asks for, found the way the second-stage bootloader finds them
 * while it walks the table (`bootloader_utility_load_partition_table`).
 */
import type { PartitionTable } from './partition-table-binary.ts';
import {
  APP_SUBTYPE_FACTORY,
  DATA_SUBTYPE_OTA,
  isOtaAppSubtype,
  type PartitionEntry,
  PartitionType,
} from './partition-types.ts';

type TableOrEntries = PartitionTable | readonly PartitionEntry[];

const entriesOf = (table: TableOrEntries): readonly PartitionEntry[] =>
  isEntryList(table) ? table : table.entries;

const isEntryList = (table: TableOrEntries): table is readonly PartitionEntry[] => Array.isArray(table);

/**
 * App partitions with subtype ota_0..ota_15, in table order. The bootloader's `app_count` is this
 * list's length: it counts them in table order and assumes ota_0..ota_{n-1} are all present.
 */
export function otaAppPartitions(table: TableOrEntries): PartitionEntry[] {
  return entriesOf(table).filter((entry) => isOtaAppSubtype(entry.type, entry.subtype));
}

/** The factory app; with several, the last one, because each overwrites the bootloader's record. */
export function factoryPartition(table: TableOrEntries): PartitionEntry | undefined {
  return entriesOf(table).findLast(
    (entry) => entry.type === PartitionType.app && entry.subtype === APP_SUBTYPE_FACTORY,
  );
}

/** The otadata partition; with several (the generator refuses that), the last one, as in the bootloader. */
export function otadataPartition(table: TableOrEntries): PartitionEntry | undefined {
  return entriesOf(table).findLast(
    (entry) => entry.type === PartitionType.data && entry.subtype === DATA_SUBTYPE_OTA,
  );
}
