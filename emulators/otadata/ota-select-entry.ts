/**
 * `esp_ota_select_entry_t` and the bootloader's rules for it (reference/esp-idf.md §3.1, §3.3, §3.4):
 * 32 bytes `ota_seq | seq_label[20] | ota_state | crc`, the CRC covering only the 4 `ota_seq` bytes.
 */
import { crc32 } from 'node:zlib';

export const OtaState = {
  NEW: 0,
  PENDING_VERIFY: 1,
  VALID: 2,
  INVALID: 3,
  ABORTED: 4,
  UNDEFINED: 0xffffffff,
} as const;

export interface OtaSelectEntry {
  seq: number;
  /** `seq_label[20]`: unused by the bootloader; normally whatever the erased sector held (0xFF). */
  label: Uint8Array;
  state: number;
  crc: number;
}

export const OTA_SELECT_ENTRY_SIZE = 32;
export const OTA_SEQ_LABEL_SIZE = 20;
/** `ota_seq` of an erased entry, which the bootloader treats as "no entry". */
export const OTA_SEQ_ERASED = 0xffffffff;

export class OtadataError extends Error {
  override readonly name = 'OtadataError';
  constructor(
    readonly code: 'bad-entry-length' | 'bad-field' | 'otadata-too-small' | 'no-ota-apps' | 'seq-overflow',
    message: string,
  ) {
    super(message);
  }
}

function checkU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new OtadataError('bad-field', `${name} ${value} is not an unsigned 32-bit value`);
  }
}

/**
 * `esp_rom_crc32_le(UINT32_MAX, &seq, 4)`. The ROM routine inverts its register on entry and exit,
 * which zlib's crc32 also does, so the ROM's UINT32_MAX start is zlib's running value 0xFFFFFFFF;
 * plain `crc32(seq)` (start 0) gives a different value.
 */
export function otaSeqCrc(seq: number): number {
  checkU32('ota_seq', seq);
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, seq, true);
  return crc32(bytes, 0xffffffff) >>> 0;
}

export function encodeOtaEntry(entry: {
  seq: number;
  state?: number;
  label?: Uint8Array;
  crc?: number;
}): Uint8Array {
  const { seq, state = OtaState.UNDEFINED, label, crc = otaSeqCrc(seq) } = entry;
  checkU32('ota_seq', seq);
  checkU32('ota_state', state);
  checkU32('crc', crc);
  if (label !== undefined && label.length !== OTA_SEQ_LABEL_SIZE) {
    throw new OtadataError('bad-field', `seq_label must be ${OTA_SEQ_LABEL_SIZE} bytes, got ${label.length}`);
  }
  const bytes = new Uint8Array(OTA_SELECT_ENTRY_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, seq, true);
  if (label) bytes.set(label, 4);
  else bytes.fill(0xff, 4, 4 + OTA_SEQ_LABEL_SIZE);
  view.setUint32(24, state, true);
  view.setUint32(28, crc, true);
  return bytes;
}

export function decodeOtaEntry(bytes: Uint8Array): OtaSelectEntry {
  if (bytes.length !== OTA_SELECT_ENTRY_SIZE) {
    throw new OtadataError(
      'bad-entry-length',
      `an otadata entry is ${OTA_SELECT_ENTRY_SIZE} bytes, got ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    seq: view.getUint32(0, true),
    label: bytes.slice(4, 4 + OTA_SEQ_LABEL_SIZE),
    state: view.getUint32(24, true),
    crc: view.getUint32(28, true),
  };
}

type EntryFields = Pick<OtaSelectEntry, 'seq' | 'state' | 'crc'>;

/** `bootloader_common_ota_select_invalid`: the CRC plays no part here. */
export function isEntryInvalid(entry: Pick<OtaSelectEntry, 'seq' | 'state'>): boolean {
  return entry.seq === OTA_SEQ_ERASED || entry.state === OtaState.INVALID || entry.state === OtaState.ABORTED;
}

/** `bootloader_common_ota_select_valid`. */
export function isEntryValid(entry: EntryFields): boolean {
  return !isEntryInvalid(entry) && entry.crc === otaSeqCrc(entry.seq);
}

/**
 * `bootloader_common_select_otadata(max = true)`: of the entries marked usable, the one with the
 * larger seq (entry 0 on a tie), else the single usable one, else -1. `usable` defaults to
 * isEntryValid; anti-rollback builds pass their own (valid and secure version accepted).
 */
export function selectActiveEntry(
  entries: readonly [EntryFields, EntryFields],
  usable: readonly [boolean, boolean] = [isEntryValid(entries[0]), isEntryValid(entries[1])],
): -1 | 0 | 1 {
  if (usable[0] && usable[1]) return entries[0].seq >= entries[1].seq ? 0 : 1;
  if (usable[0]) return 0;
  if (usable[1]) return 1;
  return -1;
}

/** The OTA slot an entry selects: `(ota_seq - 1) % app_count` in uint32 arithmetic. */
export function otaSlotForSeq(seq: number, otaAppCount: number): number {
  if (!Number.isInteger(otaAppCount) || otaAppCount <= 0) {
    throw new OtadataError(
      'no-ota-apps',
      `an OTA slot needs at least one OTA app partition, got ${otaAppCount}`,
    );
  }
  return ((seq - 1) >>> 0) % otaAppCount;
}

/**
 * `compute_ota_seq_for_target_slot` (esp_ota_ops.c): `((slot + 1) % count) + count * i` with the
 * smallest i for which it is >= currentSeq. The C loop never ends when no uint32 value qualifies;
 * here that is an error.
 */
export function computeSeqForSlot(currentSeq: number, slot: number, otaAppCount: number): number {
  checkU32('current ota_seq', currentSeq);
  if (!Number.isInteger(otaAppCount) || otaAppCount <= 0) {
    throw new OtadataError(
      'no-ota-apps',
      `an OTA slot needs at least one OTA app partition, got ${otaAppCount}`,
    );
  }
  if (!Number.isInteger(slot) || slot < 0 || slot >= otaAppCount) {
    throw new OtadataError('bad-field', `slot ${slot} is not one of the ${otaAppCount} OTA slots`);
  }
  const base = (slot + 1) % otaAppCount;
  const steps = currentSeq <= base ? 0 : Math.ceil((currentSeq - base) / otaAppCount);
  const seq = base + otaAppCount * steps;
  if (seq > 0xffffffff) {
    throw new OtadataError(
      'seq-overflow',
      `no uint32 ota_seq >= ${currentSeq} selects slot ${slot} of ${otaAppCount}`,
    );
  }
  return seq;
}

const STATE_NAMES = new Map<number, string>(Object.entries(OtaState).map(([name, value]) => [value, name]));

export function stateName(state: number): string {
  return STATE_NAMES.get(state) ?? `0x${state.toString(16).padStart(8, '0')}`;
}
