/**
 * The ESP-IDF partition CSV (`Name, Type, SubType, Offset, Size, Flags`) read with the rules of
 * gen_esp32part.py (reference/esp-idf.md §2.4): names or numbers for type and subtype, `K`/`M` size
 * suffixes, empty offsets placed after the previous partition at the type's alignment, then the
 * layout checks the generator runs before it writes a table. Environment-variable expansion in the
 * CSV is not supported.
 */
import { PARTITION_TABLE_OFFSET } from './partition-table-binary.ts';
import {
  DATA_SUBTYPE_OTA,
  type PartitionEntry,
  PartitionType,
  SUBTYPES_BY_TYPE,
  subtypeName,
  typeName,
} from './partition-types.ts';

const COLUMNS = ['Name', 'Type', 'SubType', 'Offset', 'Size', 'Flags'] as const;
type Column = (typeof COLUMNS)[number];

export type PartitionCsvErrorCode =
  | 'empty-field'
  | 'invalid-value'
  | 'unknown-flag'
  | 'overlap'
  | 'misaligned'
  | 'duplicate-name'
  | 'name-too-long'
  | 'otadata'
  | 'unrepresentable';

export class PartitionCsvError extends Error {
  override readonly name = 'PartitionCsvError';
  constructor(
    readonly code: PartitionCsvErrorCode,
    /** 1-based line of the CSV text (for formatting errors: 1-based entry number). */
    readonly line: number,
    /** 1-based column (field) number. */
    readonly column: number,
    detail: string,
  ) {
    super(`line ${line}, column ${column} (${COLUMNS[column - 1] ?? '?'}): ${detail}`);
  }
}

const PARTITION_TABLE_SECTOR = 0x1000;
const APP_ALIGNMENT = 0x10000;
const DATA_ALIGNMENT = 0x1000;
const OTADATA_SIZE = 0x2000;
const MAX_NAME_LENGTH = 16;

const alignmentFor = (type: number): number => (type === PartitionType.app ? APP_ALIGNMENT : DATA_ALIGNMENT);

interface Located {
  entry: PartitionEntry;
  line: number;
  offsetGiven: boolean;
}

function fail(code: PartitionCsvErrorCode, line: number, column: Column, detail: string): never {
  throw new PartitionCsvError(code, line, COLUMNS.indexOf(column) + 1, detail);
}

/** Python's int(v, 0) for the forms a partition CSV uses, without its keyword fallback. */
function parsePlainInteger(text: string): number | undefined {
  const match = /^([+-]?)(0x[0-9a-f]+|0o[0-7]+|0b[01]+|0|[1-9][0-9]*)$/i.exec(text.replaceAll('_', ''));
  if (!match || text.startsWith('_') || text.endsWith('_')) return undefined;
  const magnitude = Number(match[2]!.toLowerCase());
  return match[1] === '-' ? -magnitude : magnitude;
}

/** gen_esp32part's parse_int: a K or M suffix multiplies, then a number, then a keyword. */
function parseIntField(
  text: string,
  keywords: Readonly<Record<string, number>>,
  line: number,
  column: Column,
): number {
  const suffix = text.slice(-1).toLowerCase();
  if (suffix === 'k' || suffix === 'm') {
    return parseIntField(text.slice(0, -1), keywords, line, column) * (suffix === 'k' ? 1024 : 1024 * 1024);
  }
  const number = parsePlainInteger(text);
  if (number !== undefined) return number;
  const keyword = keywords[text.toLowerCase()];
  if (keyword !== undefined && Object.hasOwn(keywords, text.toLowerCase())) return keyword;
  const known = Object.keys(keywords);
  fail(
    'invalid-value',
    line,
    column,
    known.length === 0
      ? `'${text}' is not a number`
      : `'${text}' is not a number or a known keyword (${known.join(', ')})`,
  );
}

function parseRow(text: string, line: number): Located {
  // Missing trailing columns count as empty, as in the generator.
  const fields = `${text},,,,`.split(',').map((field) => field.trim());
  const [name = '', typeText = '', subtypeText = '', offsetText = '', sizeText = '', flagsText = ''] = fields;

  if (typeText === '') fail('empty-field', line, 'Type', 'the type must not be empty');
  const type = parseIntField(typeText, PartitionType, line, 'Type');
  if (type < 0 || type > 0xff) fail('invalid-value', line, 'Type', `type ${typeText} is not within 0..0xFF`);

  let subtype: number;
  if (subtypeText === '') {
    if (type === PartitionType.app) fail('empty-field', line, 'SubType', 'an app partition needs a subtype');
    subtype = SUBTYPES_BY_TYPE.get(PartitionType.data)!['undefined']!;
  } else {
    subtype = parseIntField(subtypeText, SUBTYPES_BY_TYPE.get(type) ?? {}, line, 'SubType');
  }
  if (subtype < 0 || subtype > 0xff) {
    fail('invalid-value', line, 'SubType', `subtype ${subtypeText} is not within 0..0xFF`);
  }

  const offsetGiven = offsetText !== '';
  const offset = offsetGiven ? parseIntField(offsetText, {}, line, 'Offset') : 0;
  if (offset < 0 || offset > 0xffffffff)
    fail('invalid-value', line, 'Offset', `offset ${offsetText} is out of range`);

  if (sizeText === '') fail('empty-field', line, 'Size', 'the size must not be empty');
  const size = parseIntField(sizeText, {}, line, 'Size');
  if (size <= 0 || size > 0xffffffff)
    fail('invalid-value', line, 'Size', `size ${sizeText} must be within 1..0xFFFFFFFF`);

  let encrypted = false;
  let readonly = false;
  for (const flag of flagsText.split(':').map((f) => f.trim())) {
    if (flag === 'encrypted') encrypted = true;
    else if (flag === 'readonly') readonly = true;
    else if (flag !== '')
      fail('unknown-flag', line, 'Flags', `unknown flag '${flag}' (known: encrypted, readonly)`);
  }
  return { entry: { label: name, type, subtype, offset, size, encrypted, readonly }, line, offsetGiven };
}

const hex = (value: number): string => `0x${value.toString(16)}`;

function placeAndCheck(rows: Located[], tableOffset: number): void {
  let lastEnd = tableOffset + PARTITION_TABLE_SECTOR;
  rows.forEach(({ entry, line, offsetGiven }, index) => {
    const alignment = alignmentFor(entry.type);
    if (offsetGiven) {
      if (entry.offset < lastEnd) {
        fail(
          'overlap',
          line,
          'Offset',
          index === 0
            ? `offset ${hex(entry.offset)} lies inside the partition table sector; use ${hex(lastEnd)} or higher`
            : `offset ${hex(entry.offset)} overlaps the previous partition, which ends at ${hex(lastEnd)}`,
        );
      }
      if (entry.offset % alignment !== 0) {
        fail('misaligned', line, 'Offset', `offset ${hex(entry.offset)} is not aligned to ${hex(alignment)}`);
      }
    } else {
      entry.offset = Math.ceil(lastEnd / alignment) * alignment;
    }
    if (entry.type === PartitionType.app && entry.size % DATA_ALIGNMENT !== 0) {
      fail(
        'misaligned',
        line,
        'Size',
        `app size ${hex(entry.size)} is not a multiple of ${hex(DATA_ALIGNMENT)}`,
      );
    }
    lastEnd = entry.offset + entry.size;
  });

  const seen = new Map<string, number>();
  let otadataLine: number | undefined;
  for (const { entry, line } of rows) {
    if (new TextEncoder().encode(entry.label).length > MAX_NAME_LENGTH) {
      fail('name-too-long', line, 'Name', `'${entry.label}' is longer than ${MAX_NAME_LENGTH} bytes`);
    }
    const earlier = seen.get(entry.label);
    if (earlier !== undefined)
      fail('duplicate-name', line, 'Name', `'${entry.label}' is already used on line ${earlier}`);
    seen.set(entry.label, line);
    if (entry.type === PartitionType.data && entry.subtype === DATA_SUBTYPE_OTA) {
      if (otadataLine !== undefined) {
        fail('otadata', line, 'SubType', `a second otadata partition (the first is on line ${otadataLine})`);
      }
      otadataLine = line;
      if (entry.size !== OTADATA_SIZE) {
        fail(
          'otadata',
          line,
          'Size',
          `the otadata partition must be ${hex(OTADATA_SIZE)} bytes, not ${hex(entry.size)}`,
        );
      }
    }
  }
}

export function parsePartitionCsv(text: string, options: { tableOffset?: number } = {}): PartitionEntry[] {
  const tableOffset = options.tableOffset ?? PARTITION_TABLE_OFFSET;
  const rows: Located[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    rows.push(parseRow(line, index + 1));
  });
  placeAndCheck(rows, tableOffset);
  return rows.map((row) => row.entry);
}

/** Writes entries as a CSV with explicit offsets, which parsePartitionCsv reads back unchanged. */
export function formatPartitionCsv(entries: readonly PartitionEntry[]): string {
  const lines = ['# Name, Type, SubType, Offset, Size, Flags'];
  entries.forEach((entry, index) => {
    if (/[,\r\n]/.test(entry.label) || entry.label !== entry.label.trim() || entry.label.startsWith('#')) {
      throw new PartitionCsvError(
        'unrepresentable',
        index + 1,
        1,
        `label '${entry.label}' cannot be written to a CSV row (comma, line break, '#' or edge whitespace)`,
      );
    }
    const flags = [entry.encrypted && 'encrypted', entry.readonly && 'readonly'].filter(Boolean).join(':');
    lines.push(
      [
        entry.label,
        typeName(entry.type),
        subtypeName(entry.type, entry.subtype),
        hex(entry.offset),
        hex(entry.size),
        flags,
      ].join(', '),
    );
  });
  return `${lines.join('\n')}\n`;
}
