export {
  formatPartitionCsv,
  PartitionCsvError,
  type PartitionCsvErrorCode,
  parsePartitionCsv,
} from './partition-csv.ts';
export { factoryPartition, otaAppPartitions, otadataPartition } from './partition-lookup.ts';
export {
  generatePartitionTable,
  PARTITION_ENTRY_SIZE,
  PARTITION_TABLE_LENGTH,
  PARTITION_TABLE_MAX_ENTRIES,
  PARTITION_TABLE_OFFSET,
  type ParsePartitionTableOptions,
  type PartitionTable,
  PartitionTableError,
  type PartitionTableErrorCode,
  parsePartitionTable,
} from './partition-table-binary.ts';
export {
  APP_SUBTYPE_FACTORY,
  APP_SUBTYPE_OTA_MAX,
  APP_SUBTYPE_OTA_MIN,
  APP_SUBTYPE_TEST,
  DATA_SUBTYPE_OTA,
  isOtaAppSubtype,
  type PartitionEntry,
  PartitionType,
  partitionUsage,
  subtypeName,
  typeName,
} from './partition-types.ts';
