import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FlashOperation, FlashPowerLostError, NorFlash } from '../flash/index.ts';
import type { PartitionEntry } from '../partition-table/index.ts';
import {
  computeSeqForSlot,
  decodeOtaEntry,
  encodeOtaEntry,
  isEntryInvalid,
  isEntryValid,
  OtadataError,
  type OtaSelectEntry,
  OtaState,
  otaSeqCrc,
  otaSlotForSeq,
  readOtadata,
  selectActiveEntry,
  stateName,
  writeOtadataEntry,
} from './index.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const blankLabel = () => new Uint8Array(20).fill(0xff);
const entryOf = (seq: number, state: number, crc = otaSeqCrc(seq)): OtaSelectEntry => ({
  seq,
  state,
  crc,
  label: blankLabel(),
});

// The otadata partition of two_ota.csv (reference/esp-idf.md §2.5).
const otadata: PartitionEntry = {
  label: 'otadata',
  type: 0x01,
  subtype: 0x00,
  offset: 0xd000,
  size: 0x2000,
  encrypted: false,
  readonly: false,
};

describe('otaSeqCrc (reference/esp-idf.md §3.1)', () => {
  it.each([
    [1, 0x4743989a],
    [2, 0x55f63774],
    [3, 0xed4a5011],
    [4, 0x709d68a8],
    [0xffffffff, 0x2144df1c],
  ])('crc of ota_seq %i is %s', (seq, crc) => {
    expect(otaSeqCrc(seq)).toBe(crc);
  });

  it('differs from a plain zlib crc32 of the same bytes', () => {
    const seqOne = Uint8Array.of(1, 0, 0, 0);
    expect(crc32(seqOne) >>> 0).toBe(0x99f8b879);
    expect(otaSeqCrc(1)).not.toBe(crc32(seqOne) >>> 0);
  });
});

describe('entry encoding', () => {
  it('encodes the two reference entries byte for byte', () => {
    expect(hex(encodeOtaEntry({ seq: 1, state: OtaState.VALID }))).toBe(
      `01000000${'ff'.repeat(20)}020000009a984347`,
    );
    expect(hex(encodeOtaEntry({ seq: 2, state: OtaState.NEW }))).toBe(
      `02000000${'ff'.repeat(20)}000000007437f655`,
    );
  });

  it('defaults state to UNDEFINED and keeps a given label and CRC', () => {
    const label = Uint8Array.from({ length: 20 }, (_, i) => i);
    const bytes = encodeOtaEntry({ seq: 7, label, crc: 0x12345678 });
    expect(decodeOtaEntry(bytes)).toEqual({ seq: 7, label, state: OtaState.UNDEFINED, crc: 0x12345678 });
  });

  it('decodes what it encodes, and refuses a wrong length or a wrong-sized label', () => {
    const bytes = encodeOtaEntry({ seq: 3, state: OtaState.PENDING_VERIFY });
    expect(decodeOtaEntry(bytes)).toEqual(entryOf(3, OtaState.PENDING_VERIFY));
    expect(() => decodeOtaEntry(bytes.subarray(0, 31))).toThrow(OtadataError);
    expect(() => encodeOtaEntry({ seq: 3, label: new Uint8Array(19) })).toThrow(OtadataError);
    expect(() => encodeOtaEntry({ seq: 2 ** 32 })).toThrow(OtadataError);
  });

  it('names states', () => {
    expect([0, 1, 2, 3, 4, 0xffffffff].map(stateName)).toEqual([
      'NEW',
      'PENDING_VERIFY',
      'VALID',
      'INVALID',
      'ABORTED',
      'UNDEFINED',
    ]);
    expect(stateName(5)).toBe('0x00000005');
  });
});

describe('validity (bootloader_common_ota_select_invalid / _valid)', () => {
  it.each([
    ['VALID with good CRC', entryOf(1, OtaState.VALID), false, true],
    ['NEW', entryOf(2, OtaState.NEW), false, true],
    ['PENDING_VERIFY', entryOf(2, OtaState.PENDING_VERIFY), false, true],
    ['UNDEFINED state (rollback disabled)', entryOf(2, OtaState.UNDEFINED), false, true],
    ['bad CRC: not invalid, yet not valid', entryOf(1, OtaState.VALID, 0x99f8b879), false, false],
    ['erased seq 0xFFFFFFFF, even with its CRC', entryOf(0xffffffff, OtaState.VALID), true, false],
    ['INVALID state', entryOf(3, OtaState.INVALID), true, false],
    ['ABORTED state', entryOf(3, OtaState.ABORTED), true, false],
    ['erased sector', decodeOtaEntry(new Uint8Array(32).fill(0xff)), true, false],
  ])('%s', (_, entry, invalid, valid) => {
    expect(isEntryInvalid(entry)).toBe(invalid);
    expect(isEntryValid(entry)).toBe(valid);
  });
});

describe('selectActiveEntry', () => {
  const valid = (seq: number) => entryOf(seq, OtaState.VALID);
  it.each([
    ['both valid: larger seq wins (entry 1)', [valid(1), valid(2)], 1],
    ['both valid: larger seq wins (entry 0)', [valid(5), valid(4)], 0],
    ['both valid, equal seq: entry 0', [valid(3), valid(3)], 0],
    ['only entry 0 valid (entry 1 bad CRC, larger seq)', [valid(1), entryOf(9, OtaState.VALID, 0)], 0],
    ['only entry 1 valid (entry 0 erased)', [entryOf(0xffffffff, 0xffffffff), valid(1)], 1],
    ['larger seq ABORTED: the other wins (rollback)', [valid(1), entryOf(2, OtaState.ABORTED)], 0],
    ['larger seq INVALID: the other wins', [entryOf(4, OtaState.INVALID), valid(3)], 1],
    ['neither valid', [entryOf(1, OtaState.VALID, 0), entryOf(2, OtaState.INVALID)], -1],
  ] as const)('%s', (_, entries, active) => {
    expect(selectActiveEntry([entries[0], entries[1]])).toBe(active);
  });

  it('takes caller-decided usability, as anti-rollback builds do', () => {
    expect(selectActiveEntry([valid(1), valid(2)], [true, false])).toBe(0);
    expect(selectActiveEntry([valid(1), valid(2)], [false, false])).toBe(-1);
  });

  it('maps seq to a slot with (seq - 1) % count', () => {
    expect([1, 2, 3, 4].map((seq) => otaSlotForSeq(seq, 2))).toEqual([0, 1, 0, 1]);
    expect([1, 2, 3, 4, 5].map((seq) => otaSlotForSeq(seq, 3))).toEqual([0, 1, 2, 0, 1]);
    expect(otaSlotForSeq(0, 3)).toBe(0xffffffff % 3);
  });
});

describe('computeSeqForSlot (compute_ota_seq_for_target_slot)', () => {
  it.each([
    // 2 slots: slot 0 -> 1, 3, 5...; slot 1 -> 2, 4, 6...
    [1, 1, 2, 2],
    [2, 0, 2, 3],
    [3, 1, 2, 4],
    [4, 0, 2, 5],
    [0, 0, 2, 1],
    [0, 1, 2, 0],
    // 3 slots: slot 0 -> 1, 4, 7; slot 1 -> 2, 5, 8; slot 2 -> 3 (base 0), 6, 9
    [1, 1, 3, 2],
    [2, 2, 3, 3],
    [3, 0, 3, 4],
    [4, 2, 3, 6],
    [5, 0, 3, 7],
    [7, 1, 3, 8],
    [1, 2, 3, 3],
  ])('current %i, slot %i of %i -> %i', (current, slot, count, expected) => {
    const seq = computeSeqForSlot(current, slot, count);
    expect(seq).toBe(expected);
    expect(seq).toBeGreaterThanOrEqual(current);
    if (seq > 0) expect(otaSlotForSeq(seq, count)).toBe(slot);
  });

  it('refuses a slot outside the OTA apps, no OTA apps, and a seq no uint32 can follow', () => {
    expect(() => computeSeqForSlot(1, 2, 2)).toThrow(OtadataError);
    expect(() => computeSeqForSlot(1, 0, 0)).toThrow(OtadataError);
    expect(() => computeSeqForSlot(0xffffffff, 1, 2)).toThrow(OtadataError);
    expect(computeSeqForSlot(0xffffffff, 0, 2)).toBe(0xffffffff);
    expect(computeSeqForSlot(0xfffffffe, 0, 2)).toBe(0xffffffff);
  });
});

describe('otadata on NOR flash', () => {
  const freshFlash = () => new NorFlash({ size: 0x400000 });
  const record = (flash: NorFlash): FlashOperation[] => {
    const operations: FlashOperation[] = [];
    flash.onOperation((operation) => operations.push(operation));
    return operations;
  };

  it('reads entry 0 at +0 and entry 1 at +0x1000', () => {
    const flash = freshFlash();
    flash.program(0xd000, encodeOtaEntry({ seq: 1, state: OtaState.VALID }));
    flash.program(0xe000, encodeOtaEntry({ seq: 2, state: OtaState.NEW }));
    const [first, second] = readOtadata(flash, otadata);
    expect(first).toEqual(entryOf(1, OtaState.VALID));
    expect(second).toEqual(entryOf(2, OtaState.NEW));
  });

  it('reads a blank partition as two erased, invalid entries', () => {
    const entries = readOtadata(freshFlash(), otadata);
    expect(entries.map(isEntryInvalid)).toEqual([true, true]);
    expect(selectActiveEntry(entries)).toBe(-1);
  });

  it('refuses an otadata partition smaller than two sectors, and accepts two', () => {
    expect(() => readOtadata(freshFlash(), { ...otadata, size: 0x1000 })).toThrow(
      'ota_info partition size 4096 is too small (minimum 8192 bytes)',
    );
    expect(() => readOtadata(freshFlash(), otadata)).not.toThrow();
  });

  it('erases the 4 KiB sector, then programs 32 bytes', () => {
    const flash = freshFlash();
    const operations = record(flash);
    writeOtadataEntry(flash, otadata, 1, { seq: 2, state: OtaState.NEW });
    expect(operations.map(({ kind, offset, length }) => ({ kind, offset, length }))).toEqual([
      { kind: 'erase-sector', offset: 0xe000, length: 0x1000 },
      { kind: 'program', offset: 0xe000, length: 32 },
    ]);
    expect(readOtadata(flash, otadata)[1]).toEqual(entryOf(2, OtaState.NEW));
  });

  it('overwrites an existing entry correctly because of the erase', () => {
    const flash = freshFlash();
    writeOtadataEntry(flash, otadata, 0, { seq: 2, state: OtaState.NEW });
    writeOtadataEntry(flash, otadata, 0, { seq: 2, state: OtaState.PENDING_VERIFY });
    writeOtadataEntry(flash, otadata, 0, { seq: 3, state: OtaState.VALID });
    expect(readOtadata(flash, otadata)[0]).toEqual(entryOf(3, OtaState.VALID));
    expect(isEntryValid(readOtadata(flash, otadata)[0])).toBe(true);
  });

  it('stores a given CRC as is, so a corrupt entry can be planted', () => {
    const flash = freshFlash();
    writeOtadataEntry(flash, otadata, 0, entryOf(1, OtaState.VALID, 0xdeadbeef));
    const [stored] = readOtadata(flash, otadata);
    expect(stored.crc).toBe(0xdeadbeef);
    expect(isEntryValid(stored)).toBe(false);
  });

  it("'in-place' does not erase: on a blank sector it works, over an old entry it ANDs and corrupts", () => {
    const flash = freshFlash();
    const operations = record(flash);
    writeOtadataEntry(flash, otadata, 0, { seq: 1, state: OtaState.VALID }, { order: 'in-place' });
    expect(operations.map((operation) => operation.kind)).toEqual(['program']);
    expect(isEntryValid(readOtadata(flash, otadata)[0])).toBe(true);

    writeOtadataEntry(flash, otadata, 0, { seq: 2, state: OtaState.NEW }, { order: 'in-place' });
    expect(operations.map((operation) => operation.kind)).toEqual(['program', 'program']);
    const [stored] = readOtadata(flash, otadata);
    expect(stored.seq).toBe(1 & 2);
    expect(stored.crc).toBe((otaSeqCrc(1) & otaSeqCrc(2)) >>> 0);
    expect(isEntryValid(stored)).toBe(false);
  });

  it("'in-place' over VALID to mark it INVALID reads back wrong: the state ANDs to VALID & INVALID", () => {
    const flash = freshFlash();
    writeOtadataEntry(flash, otadata, 1, { seq: 4, state: OtaState.VALID });
    writeOtadataEntry(flash, otadata, 1, { seq: 4, state: OtaState.INVALID }, { order: 'in-place' });
    const [, stored] = readOtadata(flash, otadata);
    expect(stored.state).toBe(OtaState.VALID & OtaState.INVALID);
    expect(stored.state).not.toBe(OtaState.INVALID);
    expect(isEntryValid(stored)).toBe(true); // the rollback the caller asked for does not happen
  });

  it('a power cut between erase and program leaves an erased entry, so the other entry wins', () => {
    const flash = freshFlash();
    writeOtadataEntry(flash, otadata, 0, { seq: 1, state: OtaState.VALID });
    writeOtadataEntry(flash, otadata, 1, { seq: 2, state: OtaState.NEW });
    expect(selectActiveEntry(readOtadata(flash, otadata))).toBe(1);

    flash.cutAfter({ bytes: 0 });
    expect(() => writeOtadataEntry(flash, otadata, 1, { seq: 2, state: OtaState.PENDING_VERIFY })).toThrow(
      FlashPowerLostError,
    );
    flash.powerOn();
    const entries = readOtadata(flash, otadata);
    expect(hex(flash.read(0xe000, 32))).toBe('ff'.repeat(32));
    expect(selectActiveEntry(entries)).toBe(0);
  });
});

describe('computeSeqForSlot (property)', () => {
  it('gives the smallest seq >= current that selects the slot', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.nat(),
        fc.integer({ min: 1, max: 0xfff00000 }),
        (count, slotSeed, current) => {
          const slot = slotSeed % count;
          const seq = computeSeqForSlot(current, slot, count);
          expect(seq).toBeGreaterThanOrEqual(current);
          expect(seq - count).toBeLessThan(current);
          if (seq > 0) expect(otaSlotForSeq(seq, count)).toBe(slot);
        },
      ),
    );
  });
});
