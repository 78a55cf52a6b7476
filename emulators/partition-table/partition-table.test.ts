import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { itWithVectors, readVector, readVectorText } from '../../fixtures/golden-vectors.test-support.ts';
import {
  factoryPartition,
  generatePartitionTable,
  otaAppPartitions,
  otadataPartition,
  PARTITION_TABLE_LENGTH,
  type PartitionEntry,
  PartitionTableError,
  PartitionType,
  parsePartitionCsv,
  parsePartitionTable,
  partitionUsage,
  subtypeName,
} from './index.ts';

// Read in the tests that need them (a fresh copy each time): they may be missing.
const twoOtaBin = () => readVector('two_ota.bin');
const twoOtaCsv = () => readVectorText('two_ota.csv');

const entry = (
  label: string,
  type: number,
  subtype: number,
  offset: number,
  size: number,
): PartitionEntry => ({
  label,
  type,
  subtype,
  offset,
  size,
  encrypted: false,
  readonly: false,
});

// reference/esp-idf.md §2.5
const twoOtaLayout: PartitionEntry[] = [
  entry('nvs', 0x01, 0x02, 0x9000, 0x4000),
  entry('otadata', 0x01, 0x00, 0xd000, 0x2000),
  entry('phy_init', 0x01, 0x01, 0xf000, 0x1000),
  entry('factory', 0x00, 0x00, 0x10000, 0x100000),
  entry('ota_0', 0x00, 0x10, 0x110000, 0x100000),
  entry('ota_1', 0x00, 0x11, 0x210000, 0x100000),
];

const md5Of = (bytes: Uint8Array): Buffer => createHash('md5').update(bytes).digest();

function expectTableError(action: () => unknown, code: string, entryIndex?: number): PartitionTableError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(PartitionTableError);
    const tableError = error as PartitionTableError;
    expect(tableError.code).toBe(code);
    if (entryIndex !== undefined) {
      expect(tableError.entryIndex).toBe(entryIndex);
      expect(tableError.message).toContain(`${entryIndex}`);
    }
    return tableError;
  }
  throw new Error(`expected a PartitionTableError ${code}, nothing was thrown`);
}

describe('golden vector two_ota', () => {
  itWithVectors('parses two_ota.bin into the layout of two_ota.csv with a valid MD5', () => {
    const table = parsePartitionTable(twoOtaBin(), { flashSize: 4 * 1024 * 1024 });
    expect(table.entries).toEqual(twoOtaLayout);
    expect(table.md5).toEqual({ present: true, valid: true });
  });

  itWithVectors('reads two_ota.csv into the same layout, placing the empty offsets', () => {
    expect(parsePartitionCsv(twoOtaCsv())).toEqual(twoOtaLayout);
  });

  itWithVectors('generates two_ota.bin byte for byte from two_ota.csv', () => {
    const generated = generatePartitionTable(parsePartitionCsv(twoOtaCsv()));
    expect(generated.length).toBe(PARTITION_TABLE_LENGTH);
    expect(Buffer.from(generated).equals(Buffer.from(twoOtaBin()))).toBe(true);
  });

  it('writes the MD5 entry as EB EB, 14 x FF and the MD5 of all preceding entries, then 0xFF fill', () => {
    const table = generatePartitionTable(twoOtaLayout);
    const md5At = 6 * 32;
    expect([...table.subarray(md5At, md5At + 16)]).toEqual([0xeb, 0xeb, ...Array(14).fill(0xff)]);
    expect(Buffer.from(table.subarray(md5At + 16, md5At + 32)).toString('hex')).toBe(
      md5Of(table.subarray(0, md5At)).toString('hex'),
    );
    expect(Buffer.from(table.subarray(md5At + 16, md5At + 32)).toString('hex')).toBe(
      'bf25822c0fa6d8641bd930251e06b4c4',
    );
    expect(table.subarray(md5At + 32).every((byte) => byte === 0xff)).toBe(true);
  });

  it('omits the MD5 entry on request, and such a table parses with md5 absent', () => {
    const table = generatePartitionTable(twoOtaLayout, { md5: false });
    expect(table.subarray(6 * 32).every((byte) => byte === 0xff)).toBe(true);
    expect(parsePartitionTable(table)).toEqual({
      entries: twoOtaLayout,
      md5: { present: false, valid: false },
    });
  });
});

describe("the bootloader's table checks (each with its accepted twin)", () => {
  itWithVectors('refuses an entry with a bad magic and names its index; the intact table passes', () => {
    const broken = twoOtaBin();
    broken[2 * 32] = 0xab;
    const error = expectTableError(() => parsePartitionTable(broken), 'invalid-magic', 2);
    expect(error.bootloaderLog).toBe('partition 2 invalid magic number 0x50ab');
    expect(parsePartitionTable(twoOtaBin()).entries).toHaveLength(6);
  });

  it('refuses a second MD5 entry; a single one passes', () => {
    const single = generatePartitionTable(twoOtaLayout);
    const doubled = single.slice();
    const md5Entry = single.subarray(6 * 32, 7 * 32);
    // A second MD5 entry right after the first, carrying the digest of everything before it, so only
    // the "one MD5" rule can reject it.
    doubled.set(md5Entry, 7 * 32);
    doubled.set(md5Of(doubled.subarray(0, 7 * 32)), 7 * 32 + 16);
    const error = expectTableError(() => parsePartitionTable(doubled), 'duplicate-md5', 7);
    expect(error.bootloaderLog).toBe('Only one MD5 checksum is allowed');
    expect(parsePartitionTable(single).md5).toEqual({ present: true, valid: true });
  });

  itWithVectors(
    'refuses an MD5 that does not match the entries; with verifyMd5 false it reports valid: false',
    () => {
      const tampered = twoOtaBin();
      tampered[4 * 32 + 12] = 'O'.charCodeAt(0); // relabel ota_0 without fixing the MD5
      const error = expectTableError(() => parsePartitionTable(tampered), 'md5-mismatch', 6);
      expect(error.bootloaderLog).toBe('Incorrect MD5 checksum');
      expect(parsePartitionTable(tampered, { verifyMd5: false }).md5).toEqual({
        present: true,
        valid: false,
      });
      expect(parsePartitionTable(tampered, { verifyMd5: false }).entries[4]?.label).toBe('Ota_0');
    },
  );

  it('refuses a table without a terminator in its 96 slots; one free slot is enough', () => {
    const full = new Uint8Array(PARTITION_TABLE_LENGTH);
    const most = Array.from({ length: 95 }, (_, i) =>
      entry(`p${i}`, 0x01, 0x81, 0x10000 + i * 0x1000, 0x1000),
    );
    full.set(generatePartitionTable(most, { md5: false }));
    expect(parsePartitionTable(full).entries).toHaveLength(95);
    full.set(full.subarray(0, 32), 95 * 32);
    const error = expectTableError(() => parsePartitionTable(full), 'no-terminator');
    expect(error.bootloaderLog).toBe('partition table has no terminating entry, not valid');
  });

  itWithVectors('refuses an entry beyond the flash size; the same table fits a larger flash', () => {
    const error = expectTableError(
      () => parsePartitionTable(twoOtaBin(), { flashSize: 0x300000 }),
      'exceeds-flash-size',
      5,
    );
    expect(error.bootloaderLog).toBe(
      'partition 5 invalid - offset 0x210000 size 0x100000 exceeds flash chip size 0x300000',
    );
    expect(parsePartitionTable(twoOtaBin(), { flashSize: 0x310000 }).entries).toHaveLength(6);
  });

  it('checks the end with uint32 arithmetic, as the bootloader does, so a wrapping size slips through', () => {
    const wrapping = generatePartitionTable([entry('wrap', 0x01, 0x81, 0x10000, 0xffff0000)]);
    expect(parsePartitionTable(wrapping, { flashSize: 0x400000 }).entries[0]?.size).toBe(0xffff0000);
    const tooLong = generatePartitionTable([entry('long', 0x01, 0x81, 0x10000, 0xfff00000)]);
    expectTableError(() => parsePartitionTable(tooLong, { flashSize: 0x400000 }), 'exceeds-flash-size', 0);
  });

  it('keeps entries after a mid-table MD5 entry and checks the MD5 over the entries before it', () => {
    const front = generatePartitionTable(twoOtaLayout.slice(0, 2));
    const table = front.slice();
    table.set(generatePartitionTable(twoOtaLayout.slice(2), { md5: false }).subarray(0, 4 * 32), 3 * 32);
    expect(parsePartitionTable(table).entries).toEqual(twoOtaLayout);
  });
});

describe('encoding', () => {
  it('round-trips flags, a 16-byte label without terminator and custom types', () => {
    const entries = [
      { ...entry('sixteen_chars_ab', 0x40, 0x07, 0x9000, 0x1000), readonly: true },
      { ...entry('secret', 0x01, 0x82, 0xa000, 0x2000), encrypted: true },
      { ...entry('both', 0x01, 0x81, 0xc000, 0x1000), encrypted: true, readonly: true },
    ];
    const table = generatePartitionTable(entries);
    expect(table[28]).toBe(0x02);
    expect(table[32 + 28]).toBe(0x01);
    expect(table[64 + 28]).toBe(0x03);
    expect(parsePartitionTable(table).entries).toEqual(entries);
  });

  it('refuses a label over 16 bytes and a field out of range, and accepts the limits', () => {
    expectTableError(
      () => generatePartitionTable([entry('seventeen_chars_x', 0x01, 0x81, 0x9000, 0x1000)]),
      'unencodable-entry',
      0,
    );
    expectTableError(
      () => generatePartitionTable([entry('t', 0x100, 0, 0x9000, 0x1000)]),
      'unencodable-entry',
      0,
    );
    expectTableError(
      () => generatePartitionTable([entry('o', 1, 0, 2 ** 32, 0x1000)]),
      'unencodable-entry',
      0,
    );
    expect(() => generatePartitionTable([entry('t', 0xfe, 0xff, 0xffffffff, 0xffffffff)])).not.toThrow();
  });

  it('refuses more entries than leave room for the MD5 entry and a terminator; one fewer fits', () => {
    const make = (count: number) =>
      Array.from({ length: count }, (_, i) => entry(`p${i}`, 0x01, 0x81, 0x10000 + i * 0x1000, 0x1000));
    expectTableError(() => generatePartitionTable(make(95)), 'too-many-entries');
    expect(generatePartitionTable(make(94))).toHaveLength(PARTITION_TABLE_LENGTH);
    expect(generatePartitionTable(make(95), { md5: false })).toHaveLength(PARTITION_TABLE_LENGTH);
  });
});

describe('lookups and names', () => {
  itWithVectors('finds OTA apps in table order, the factory app and otadata', () => {
    const table = parsePartitionTable(twoOtaBin());
    expect(otaAppPartitions(table).map((p) => p.label)).toEqual(['ota_0', 'ota_1']);
    expect(factoryPartition(table)?.offset).toBe(0x10000);
    expect(otadataPartition(table)?.offset).toBe(0xd000);
  });

  it('counts OTA apps as the bootloader does: in table order, subtypes 0x10..0x1F only', () => {
    const entries = [
      entry('b', 0x00, 0x11, 0x20000, 0x10000),
      entry('test', 0x00, 0x20, 0x30000, 0x10000),
      entry('a', 0x00, 0x10, 0x40000, 0x10000),
      entry('last', 0x00, 0x1f, 0x50000, 0x10000),
      entry('data', 0x01, 0x10, 0x60000, 0x1000),
    ];
    expect(otaAppPartitions(entries).map((p) => p.label)).toEqual(['b', 'a', 'last']);
    expect(factoryPartition(entries)).toBeUndefined();
    expect(otadataPartition(entries)).toBeUndefined();
  });

  it('names subtypes for the CSV and falls back to hex', () => {
    expect(subtypeName(PartitionType.app, 0x10)).toBe('ota_0');
    expect(subtypeName(PartitionType.app, 0x1f)).toBe('ota_15');
    expect(subtypeName(PartitionType.data, 0x02)).toBe('nvs');
    expect(subtypeName(PartitionType.data, 0x83)).toBe('littlefs');
    expect(subtypeName(PartitionType.bootloader, 0x02)).toBe('recovery');
    expect(subtypeName(PartitionType.data, 0x42)).toBe('0x42');
    expect(subtypeName(0x40, 0x00)).toBe('0x00');
  });

  itWithVectors("gives the bootloader's usage strings", () => {
    const table = parsePartitionTable(twoOtaBin());
    const usage = (type: number, subtype: number) => partitionUsage({ type, subtype });
    expect(table.entries.map(partitionUsage)).toEqual([
      'WiFi data',
      'OTA data',
      'RF data',
      'factory app',
      'OTA app',
      'OTA app',
    ]);
    expect(usage(0x00, 0x20)).toBe('test app');
    expect(usage(0x00, 0x30)).toBe('Unknown app');
    expect(usage(0x01, 0x04)).toBe('NVS keys');
    expect(usage(0x01, 0x05)).toBe('efuse');
    expect(usage(0x01, 0x03)).toBe('Unknown data');
    expect(usage(0x02, 0x00)).toBe('primary bootloader');
    expect(usage(0x02, 0x01)).toBe('ota bootloader');
    expect(usage(0x02, 0x02)).toBe('recovery bootloader');
    expect(usage(0x02, 0x03)).toBe('unknown');
    expect(usage(0x03, 0x00)).toBe('primary partition_table');
    expect(usage(0x03, 0x01)).toBe('ota partition_table');
    expect(usage(0x40, 0x00)).toBe('unknown');
  });
});
