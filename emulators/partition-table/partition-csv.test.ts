import { describe, expect, it } from 'vitest';
import { formatPartitionCsv, PartitionCsvError, type PartitionEntry, parsePartitionCsv } from './index.ts';

function expectCsvError(text: string, code: string, line: number, column: number): PartitionCsvError {
  try {
    parsePartitionCsv(text);
  } catch (error) {
    expect(error).toBeInstanceOf(PartitionCsvError);
    const csvError = error as PartitionCsvError;
    expect({ code: csvError.code, line: csvError.line, column: csvError.column }).toEqual({
      code,
      line,
      column,
    });
    expect(csvError.message).toMatch(new RegExp(`^line ${line}, column ${column} `));
    return csvError;
  }
  throw new Error(`expected a PartitionCsvError ${code}, the CSV was accepted`);
}

const row = (p: Partial<PartitionEntry>): PartitionEntry => ({
  label: '',
  type: 1,
  subtype: 6,
  offset: 0,
  size: 0,
  encrypted: false,
  readonly: false,
  ...p,
});

describe('parsePartitionCsv values', () => {
  it('reads names case-insensitively and numbers in hex, octal, binary and decimal, with K and M', () => {
    const entries = parsePartitionCsv(
      [
        'a, DATA, NVS, 0x9000, 4K',
        'b, 1, 0x82, 0o120000, 0b1000000000000',
        'c, data, fat, 45056, 0x1k',
        'd, app, OTA_3, 0x10000, 1M',
        'e, 0x40, 7, , 4096',
      ].join('\n'),
    );
    expect(
      entries.map(({ label, type, subtype, offset, size }) => [label, type, subtype, offset, size]),
    ).toEqual([
      ['a', 1, 0x02, 0x9000, 0x1000],
      ['b', 1, 0x82, 0xa000, 0x1000],
      ['c', 1, 0x81, 0xb000, 0x400],
      ['d', 0, 0x13, 0x10000, 0x100000],
      ['e', 0x40, 7, 0x110000, 0x1000],
    ]);
  });

  it('treats an empty data subtype as undefined (0x06) and refuses an empty app subtype', () => {
    expect(parsePartitionCsv('blob, data, , , 4K')[0]?.subtype).toBe(0x06);
    expectCsvError('\n\nfw, app, , , 1M', 'empty-field', 3, 3);
  });

  it('reads the flags column, with missing trailing columns counting as empty', () => {
    const [plain, both, secret] = parsePartitionCsv(
      'plain, data, nvs, , 4K\nboth, data, nvs, , 4K, encrypted:readonly\nsecret, data, nvs, , 4K, encrypted',
    );
    expect([plain?.encrypted, plain?.readonly]).toEqual([false, false]);
    expect([both?.encrypted, both?.readonly]).toEqual([true, true]);
    expect([secret?.encrypted, secret?.readonly]).toEqual([true, false]);
    expectCsvError('x, data, nvs, , 4K, encrypted:sticky', 'unknown-flag', 1, 6);
  });

  it('names line and column for an unknown keyword, an empty type and an empty size', () => {
    const error = expectCsvError('# header\nnvs, data, nvss, , 4K', 'invalid-value', 2, 3);
    expect(error.message).toContain("'nvss'");
    expect(error.message).toContain('nvs');
    expectCsvError('nvs, , nvs, , 4K', 'empty-field', 1, 2);
    expectCsvError('nvs, data, nvs, ,', 'empty-field', 1, 5);
    expectCsvError('nvs, data, nvs, 0xZZ, 4K', 'invalid-value', 1, 4);
    expectCsvError('nvs, data, nvs, , 4Q', 'invalid-value', 1, 5);
    expectCsvError('nvs, data, 0x100, , 4K', 'invalid-value', 1, 3);
  });
});

describe('parsePartitionCsv placement (generator rules)', () => {
  it('starts at table offset + 0x1000 and aligns apps to 0x10000, data to 0x1000', () => {
    const entries = parsePartitionCsv(
      'd1, data, nvs, , 0x1800\nd2, data, phy, , 0x1000\napp, app, factory, , 64K',
    );
    expect(entries.map((e) => e.offset)).toEqual([0x9000, 0xb000, 0x10000]);
  });

  it('honours another table offset', () => {
    const entries = parsePartitionCsv('nvs, data, nvs, , 0x4000\nfw, app, ota_0, , 1M', {
      tableOffset: 0x10000,
    });
    expect(entries.map((e) => e.offset)).toEqual([0x11000, 0x20000]);
  });

  it('refuses an explicit offset inside the table sector or a previous partition; a free one passes', () => {
    expectCsvError('nvs, data, nvs, 0x8000, 4K', 'overlap', 1, 4);
    expectCsvError('a, data, nvs, , 8K\nb, data, phy, 0xa000, 4K', 'overlap', 2, 4);
    expect(parsePartitionCsv('a, data, nvs, , 8K\nb, data, phy, 0xb000, 4K')[1]?.offset).toBe(0xb000);
  });

  it('refuses a misaligned explicit offset and an app size off the 4 KiB grid; aligned ones pass', () => {
    expectCsvError('fw, app, factory, 0x18000, 1M', 'misaligned', 1, 4);
    expectCsvError('nvs, data, nvs, 0x9800, 4K', 'misaligned', 1, 4);
    expectCsvError('fw, app, factory, , 0x10800', 'misaligned', 1, 5);
    expect(parsePartitionCsv('fw, app, factory, 0x20000, 0x11000')[0]?.size).toBe(0x11000);
    expect(parsePartitionCsv('blob, data, fat, , 0x800')[0]?.size).toBe(0x800);
  });

  it('refuses duplicate names and names over 16 bytes; distinct 16-byte names pass', () => {
    expectCsvError('a, data, nvs, , 4K\na, data, phy, , 4K', 'duplicate-name', 2, 1);
    expectCsvError('seventeen_chars_x, data, nvs, , 4K', 'name-too-long', 1, 1);
    expect(parsePartitionCsv('sixteen_chars_ab, data, nvs, , 4K\nb, data, phy, , 4K')).toHaveLength(2);
  });

  it('refuses a second otadata and an otadata that is not 0x2000 bytes; one of 0x2000 passes', () => {
    expectCsvError('o1, data, ota, , 0x2000\no2, data, ota, , 0x2000', 'otadata', 2, 3);
    expectCsvError('o1, data, ota, , 0x1000', 'otadata', 1, 5);
    expect(parsePartitionCsv('o1, data, ota, , 0x2000')[0]?.offset).toBe(0x9000);
  });
});

describe('formatPartitionCsv', () => {
  it('writes rows that parse back to the same entries', () => {
    const entries = [
      row({ label: 'nvs', type: 1, subtype: 2, offset: 0x9000, size: 0x4000 }),
      row({ label: 'otadata', type: 1, subtype: 0, offset: 0xd000, size: 0x2000 }),
      row({
        label: 'keys',
        type: 1,
        subtype: 4,
        offset: 0xf000,
        size: 0x1000,
        encrypted: true,
        readonly: true,
      }),
      row({ label: 'ota_0', type: 0, subtype: 0x10, offset: 0x10000, size: 0x100000, encrypted: true }),
      row({ label: 'custom', type: 0x40, subtype: 0x07, offset: 0x110000, size: 0x1000 }),
    ];
    const text = formatPartitionCsv(entries);
    expect(text.split('\n')[4]).toBe('ota_0, app, ota_0, 0x10000, 0x100000, encrypted');
    expect(text.split('\n')[3]).toBe('keys, data, nvs_keys, 0xf000, 0x1000, encrypted:readonly');
    expect(parsePartitionCsv(text)).toEqual(entries);
  });

  it('refuses a label a CSV row cannot hold, and writes an ordinary one', () => {
    const base = row({ type: 1, subtype: 2, offset: 0x9000, size: 0x1000 });
    for (const label of ['a,b', '#x', ' padded', 'two\nlines']) {
      expect(() => formatPartitionCsv([{ ...base, label }])).toThrow(PartitionCsvError);
    }
    expect(formatPartitionCsv([{ ...base, label: 'a-b_c' }])).toContain(
      'a-b_c, data, nvs, 0x9000, 0x1000, \n',
    );
  });
});
