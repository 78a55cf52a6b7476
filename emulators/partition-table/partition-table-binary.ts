/**
 * The binary partition table: 32-byte entries, an optional MD5 entry, a 0xFF terminator and 0xFF fill
 * to 0xC00 bytes (reference/esp-idf.md §2). Parsing applies the second-stage bootloader's checks
 * (`flash_partitions.c`, esp_partition_table_verify) in its order, so a table the bootloader refuses
 * is refused here with the same reason.
 */
import { createHash } from 'node:crypto';
import type { PartitionEntry } from './partition-types.ts';

export const PARTITION_TABLE_OFFSET = 0x8000;
export const PARTITION_TABLE_LENGTH = 0xc00;
export const PARTITION_ENTRY_SIZE = 32;
export const PARTITION_TABLE_MAX_ENTRIES = PARTITION_TABLE_LENGTH / PARTITION_ENTRY_SIZE;
export const PARTITION_MAGIC = 0x50aa;
export const PARTITION_MD5_MAGIC = 0xebeb;
const LABEL_OFFSET = 12;
const LABEL_LENGTH = 16;
const MD5_DIGEST_OFFSET = 16;
const FLAG_ENCRYPTED = 1 << 0;
const FLAG_READONLY = 1 << 1;

export interface PartitionTable {
  entries: PartitionEntry[];
  md5: { present: boolean; valid: boolean };
}

export type PartitionTableErrorCode =
  | 'invalid-magic'
  | 'duplicate-md5'
  | 'md5-mismatch'
  | 'no-terminator'
  | 'exceeds-flash-size'
  | 'too-many-entries'
  | 'unencodable-entry';

export class PartitionTableError extends Error {
  override readonly name = 'PartitionTableError';
  constructor(
    readonly code: PartitionTableErrorCode,
    message: string,
    /** Slot index in the table (the MD5 entry counts, as in the bootloader's own numbering). */
    readonly entryIndex?: number,
    /** The line the bootloader logs (tag `flash_parts`) when it refuses the table for this reason. */
    readonly bootloaderLog?: string,
  ) {
    super(message);
  }
}

export interface ParsePartitionTableOptions {
  /** Flash chip size; entries past it are refused as the bootloader does. Omitted: no size check. */
  flashSize?: number;
  /**
   * The bootloader always checks the MD5 entry. `false` records a mismatch in `md5.valid` instead of
   * throwing, for inspecting a table the bootloader would refuse.
   */
  verifyMd5?: boolean;
}

const labelDecoder = new TextDecoder('utf-8');
const labelEncoder = new TextEncoder();

function decodeEntry(bytes: Uint8Array, view: DataView, at: number): PartitionEntry {
  const labelBytes = bytes.subarray(at + LABEL_OFFSET, at + LABEL_OFFSET + LABEL_LENGTH);
  const nul = labelBytes.indexOf(0);
  const flags = view.getUint32(at + 28, true);
  return {
    label: labelDecoder.decode(nul === -1 ? labelBytes : labelBytes.subarray(0, nul)),
    type: bytes[at + 2]!,
    subtype: bytes[at + 3]!,
    offset: view.getUint32(at + 4, true),
    size: view.getUint32(at + 8, true),
    encrypted: (flags & FLAG_ENCRYPTED) !== 0,
    readonly: (flags & FLAG_READONLY) !== 0,
  };
}

const hex = (value: number): string => value.toString(16);

export function parsePartitionTable(
  bin: Uint8Array,
  options: ParsePartitionTableOptions = {},
): PartitionTable {
  const { flashSize, verifyMd5 = true } = options;
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const slots = Math.min(PARTITION_TABLE_MAX_ENTRIES, Math.floor(bin.length / PARTITION_ENTRY_SIZE));
  const entries: PartitionEntry[] = [];
  const md5 = { present: false, valid: false };

  for (let index = 0; index < slots; index++) {
    const at = index * PARTITION_ENTRY_SIZE;
    const magic = view.getUint16(at, true);
    if (magic === PARTITION_MAGIC) {
      const entry = decodeEntry(bin, view, at);
      // The bootloader adds offset and size as uint32_t, so a sum that wraps past 4 GiB passes its check.
      if (
        flashSize !== undefined &&
        (entry.offset > flashSize || (entry.offset + entry.size) >>> 0 > flashSize)
      ) {
        const log = `partition ${index} invalid - offset 0x${hex(entry.offset)} size 0x${hex(entry.size)} exceeds flash chip size 0x${hex(flashSize)}`;
        throw new PartitionTableError(
          'exceeds-flash-size',
          `partition table entry ${index} ('${entry.label}') at 0x${hex(entry.offset)} size 0x${hex(entry.size)} does not fit a 0x${hex(flashSize)}-byte flash`,
          index,
          log,
        );
      }
      entries.push(entry);
    } else if (magic === PARTITION_MD5_MAGIC) {
      if (md5.present) {
        throw new PartitionTableError(
          'duplicate-md5',
          `partition table entry ${index} is a second MD5 entry; only one is allowed`,
          index,
          'Only one MD5 checksum is allowed',
        );
      }
      const expected = createHash('md5').update(bin.subarray(0, at)).digest();
      const stored = bin.subarray(at + MD5_DIGEST_OFFSET, at + MD5_DIGEST_OFFSET + 16);
      md5.present = true;
      md5.valid = expected.equals(stored);
      if (!md5.valid && verifyMd5) {
        throw new PartitionTableError(
          'md5-mismatch',
          `partition table MD5 entry ${index} holds ${Buffer.from(stored).toString('hex')}, but the MD5 of entries 0..${index - 1} is ${expected.toString('hex')}`,
          index,
          'Incorrect MD5 checksum',
        );
      }
    } else if (magic === 0xffff && bin[at + 2] === 0xff && bin[at + 3] === 0xff) {
      return { entries, md5 };
    } else {
      throw new PartitionTableError(
        'invalid-magic',
        `partition table entry ${index} has magic 0x${hex(magic)}, expected 0x50aa (entry), 0xebeb (MD5) or an 0xFF terminator`,
        index,
        `partition ${index} invalid magic number 0x${hex(magic)}`,
      );
    }
  }
  throw new PartitionTableError(
    'no-terminator',
    `partition table has no terminating entry in its ${slots} slots`,
    slots,
    'partition table has no terminating entry, not valid',
  );
}

function checkField(index: number, name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new PartitionTableError(
      'unencodable-entry',
      `partition entry ${index}: ${name} ${value} does not fit its field (0..0x${hex(max)})`,
      index,
    );
  }
}

function encodeEntry(
  entry: PartitionEntry,
  index: number,
  target: Uint8Array,
  view: DataView,
  at: number,
): void {
  checkField(index, 'type', entry.type, 0xff);
  checkField(index, 'subtype', entry.subtype, 0xff);
  checkField(index, 'offset', entry.offset, 0xffffffff);
  checkField(index, 'size', entry.size, 0xffffffff);
  const label = labelEncoder.encode(entry.label);
  if (label.length > LABEL_LENGTH) {
    throw new PartitionTableError(
      'unencodable-entry',
      `partition entry ${index}: label '${entry.label}' is ${label.length} bytes, at most ${LABEL_LENGTH} fit`,
      index,
    );
  }
  view.setUint16(at, PARTITION_MAGIC, true);
  target[at + 2] = entry.type;
  target[at + 3] = entry.subtype;
  view.setUint32(at + 4, entry.offset, true);
  view.setUint32(at + 8, entry.size, true);
  target.fill(0, at + LABEL_OFFSET, at + LABEL_OFFSET + LABEL_LENGTH);
  target.set(label, at + LABEL_OFFSET);
  view.setUint32(
    at + 28,
    (entry.encrypted ? FLAG_ENCRYPTED : 0) | (entry.readonly ? FLAG_READONLY : 0),
    true,
  );
}

/**
 * Encodes entries as gen_esp32part.py does: entries, then (by default) the MD5 entry over them, then
 * 0xFF to exactly 0xC00 bytes. At least one 0xFF slot must remain for the terminator.
 */
export function generatePartitionTable(
  entries: readonly PartitionEntry[],
  options: { md5?: boolean } = {},
): Uint8Array {
  const withMd5 = options.md5 ?? true;
  const usedSlots = entries.length + (withMd5 ? 1 : 0);
  if (usedSlots >= PARTITION_TABLE_MAX_ENTRIES) {
    throw new PartitionTableError(
      'too-many-entries',
      `${entries.length} partitions${withMd5 ? ' plus the MD5 entry' : ''} leave no room for the terminator in ${PARTITION_TABLE_LENGTH} bytes (at most ${PARTITION_TABLE_MAX_ENTRIES - 1} slots)`,
    );
  }
  const table = new Uint8Array(PARTITION_TABLE_LENGTH).fill(0xff);
  const view = new DataView(table.buffer);
  entries.forEach((entry, index) => {
    encodeEntry(entry, index, table, view, index * PARTITION_ENTRY_SIZE);
  });
  if (withMd5) {
    const at = entries.length * PARTITION_ENTRY_SIZE;
    view.setUint16(at, PARTITION_MD5_MAGIC, true);
    table.set(createHash('md5').update(table.subarray(0, at)).digest(), at + MD5_DIGEST_OFFSET);
  }
  return table;
}
