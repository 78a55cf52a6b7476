import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatPartitionCsv,
  generatePartitionTable,
  type PartitionEntry,
  parsePartitionCsv,
  parsePartitionTable,
} from './index.ts';

const label = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/);

/** Sorted, non-overlapping, aligned layouts the CSV generator accepts. */
const layout = fc
  .uniqueArray(
    fc.record({
      label,
      isApp: fc.boolean(),
      subtype: fc.integer({ min: 0x02, max: 0x0f }),
      pages: fc.integer({ min: 1, max: 64 }),
      gap: fc.integer({ min: 0, max: 8 }),
      encrypted: fc.boolean(),
      readonly: fc.boolean(),
    }),
    { selector: (row) => row.label, minLength: 0, maxLength: 40 },
  )
  .map((rows) => {
    let end = 0x9000;
    return rows.map((row): PartitionEntry => {
      const alignment = row.isApp ? 0x10000 : 0x1000;
      const offset = Math.ceil(end / alignment) * alignment + row.gap * alignment;
      const size = row.pages * 0x1000;
      end = offset + size;
      return {
        label: row.label,
        type: row.isApp ? 0x00 : 0x01,
        subtype: row.isApp ? 0x10 + (row.subtype & 0x0f) : 0x80 + row.subtype,
        offset,
        size,
        encrypted: row.encrypted,
        readonly: row.readonly,
      };
    });
  });

describe('partition table round trips (property)', () => {
  it('binary: parse(generate(entries)) returns the entries, with and without MD5', () => {
    fc.assert(
      fc.property(layout, fc.boolean(), (entries, md5) => {
        const table = parsePartitionTable(generatePartitionTable(entries, { md5 }));
        expect(table.entries).toEqual(entries);
        expect(table.md5).toEqual({ present: md5, valid: md5 });
      }),
    );
  });

  it('CSV: parse(format(entries)) returns the entries', () => {
    fc.assert(
      fc.property(layout, (entries) => {
        expect(parsePartitionCsv(formatPartitionCsv(entries))).toEqual(entries);
      }),
    );
  });

  it('any single flipped bit in the entries of an MD5-protected table is refused', () => {
    fc.assert(
      fc.property(
        layout.filter((entries) => entries.length > 0),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (entries, at, bit) => {
          const table = generatePartitionTable(entries);
          table[at % (entries.length * 32)]! ^= 1 << bit;
          expect(() => parsePartitionTable(table)).toThrow();
        },
      ),
    );
  });
});
