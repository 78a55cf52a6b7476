/**
 * Partition types, subtypes and the bootloader's names for them
 * (reference/esp-idf.md §2.1, §2.2, §7.2).
 */

export const PartitionType = { app: 0x00, data: 0x01, bootloader: 0x02, partition_table: 0x03 } as const;

export interface PartitionEntry {
  label: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
  encrypted: boolean;
  readonly: boolean;
}

export const APP_SUBTYPE_FACTORY = 0x00;
export const APP_SUBTYPE_OTA_MIN = 0x10;
export const APP_SUBTYPE_OTA_MAX = 0x1f;
export const APP_SUBTYPE_TEST = 0x20;
export const DATA_SUBTYPE_OTA = 0x00;

const appSubtypes: Record<string, number> = {
  factory: APP_SUBTYPE_FACTORY,
  test: APP_SUBTYPE_TEST,
  tee_0: 0x30,
  tee_1: 0x31,
};
for (let slot = 0; slot < 16; slot++) appSubtypes[`ota_${slot}`] = APP_SUBTYPE_OTA_MIN + slot;

/** Keyword tables of the CSV generator: type name -> (subtype name -> value). */
export const SUBTYPES_BY_TYPE: ReadonlyMap<number, Readonly<Record<string, number>>> = new Map<
  number,
  Readonly<Record<string, number>>
>([
  [PartitionType.app, appSubtypes],
  [
    PartitionType.data,
    {
      ota: DATA_SUBTYPE_OTA,
      phy: 0x01,
      nvs: 0x02,
      coredump: 0x03,
      nvs_keys: 0x04,
      efuse: 0x05,
      undefined: 0x06,
      esphttpd: 0x80,
      fat: 0x81,
      spiffs: 0x82,
      littlefs: 0x83,
      tee_ota: 0x90,
    },
  ],
  [PartitionType.bootloader, { primary: 0x00, ota: 0x01, recovery: 0x02 }],
  [PartitionType.partition_table, { primary: 0x00, ota: 0x01 }],
]);

const hexByte = (value: number): string => `0x${value.toString(16).padStart(2, '0')}`;

/** The CSV name of a type (`app`, `data`, ...) or its hex value when it has none. */
export function typeName(type: number): string {
  for (const [name, value] of Object.entries(PartitionType)) if (value === type) return name;
  return hexByte(type);
}

/** The CSV name of a subtype (`ota_0`, `nvs`, ...) or its hex value when it has none. */
export function subtypeName(type: number, subtype: number): string {
  const names = SUBTYPES_BY_TYPE.get(type);
  if (names) for (const [name, value] of Object.entries(names)) if (value === subtype) return name;
  return hexByte(subtype);
}

export function isOtaAppSubtype(type: number, subtype: number): boolean {
  return type === PartitionType.app && subtype >= APP_SUBTYPE_OTA_MIN && subtype <= APP_SUBTYPE_OTA_MAX;
}

/**
 * The usage column the second-stage bootloader prints in its partition listing
 * (`bootloader_utility.c`, bootloader_utility_load_partition_table). Subtypes the bootloader does not
 * name under a known type keep its initial value `unknown`, like every unknown type. TEE partitions are
 * named only in TEE-enabled builds, so a default build shows them as `Unknown app` / `Unknown data`.
 */
export function partitionUsage(entry: Pick<PartitionEntry, 'type' | 'subtype'>): string {
  const { type, subtype } = entry;
  switch (type) {
    case PartitionType.app:
      if (subtype === APP_SUBTYPE_FACTORY) return 'factory app';
      if (subtype === APP_SUBTYPE_TEST) return 'test app';
      return isOtaAppSubtype(type, subtype) ? 'OTA app' : 'Unknown app';
    case PartitionType.data:
      switch (subtype) {
        case DATA_SUBTYPE_OTA:
          return 'OTA data';
        case 0x01:
          return 'RF data';
        case 0x02:
          return 'WiFi data';
        case 0x04:
          return 'NVS keys';
        case 0x05:
          return 'efuse';
        default:
          return 'Unknown data';
      }
    case PartitionType.bootloader:
      return ['primary bootloader', 'ota bootloader', 'recovery bootloader'][subtype] ?? 'unknown';
    case PartitionType.partition_table:
      return ['primary partition_table', 'ota partition_table'][subtype] ?? 'unknown';
    default:
      return 'unknown';
  }
}
