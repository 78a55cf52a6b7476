import type { Esp32Services } from '../../device/index.ts';
import { ESP_ERR, EspError, resolveEsp32Chip, verifyPartitionImage } from '../../esp32-ota-ops/index.ts';
import type { NorFlash } from '../../flash/index.ts';
import {
  computeSeqForSlot,
  OtaState,
  otaSeqCrc,
  otaSlotForSeq,
  readOtadata,
  selectActiveEntry,
  writeOtadataEntry,
} from '../../otadata/index.ts';
import {
  APP_SUBTYPE_FACTORY,
  otaAppPartitions,
  otadataPartition,
  type PartitionEntry,
} from '../../partition-table/index.ts';

/** `esp32.Partition` block size (`ioctl(5)`): MicroPython exposes partitions in flash sectors. */
export const PARTITION_BLOCK_SIZE = 4096;

/** `Partition.info()`: `(type, subtype, address, size, label, encrypted)`. */
export type PartitionInfo = [number, number, number, number, string, boolean];

/** `_partition_info_dict` of viperhttp_ota.py (reference §1.7). */
export interface PartitionDict {
  raw: PartitionInfo;
  type: number;
  subtype: number;
  address: number;
  size: number;
  label: string;
  encrypted: boolean;
}

export function partitionDict(entry: PartitionEntry | undefined): PartitionDict | null {
  if (!entry) return null;
  return {
    raw: [entry.type, entry.subtype, entry.offset, entry.size, entry.label, entry.encrypted],
    type: entry.type,
    subtype: entry.subtype,
    address: entry.offset,
    size: entry.size,
    label: entry.label,
    encrypted: entry.encrypted,
  };
}

/**
 * An `OSError` as MicroPython's `check_esp_err` raises it: `(-esp_err, "ESP_ERR_…")`, so its repr
 * is what a `"…: " + repr(exc)` detail shows on a chip. (MicroPython source, not the reference.)
 */
export class MicroPythonOsError extends Error {
  readonly code = 'MICROPYTHON_OS_ERROR';

  constructor(
    readonly errno: number,
    readonly errName: string,
  ) {
    super(`[Errno ${errno}] ${errName}`);
  }

  static fromEsp(error: unknown): MicroPythonOsError {
    if (error instanceof EspError) return new MicroPythonOsError(-error.err | 0, error.code);
    return new MicroPythonOsError(-ESP_ERR.ESP_FAIL, 'ESP_FAIL');
  }

  repr(): string {
    return `OSError(${this.errno}, '${this.errName}')`;
  }
}

/**
 * MicroPython's `esp32.Partition` over one partition of the emulated flash: raw block erase and
 * write (the 3-argument `writeblocks` does not erase), and `set_boot` through esp_ota_ops.
 */
export class MicroPythonPartition {
  readonly blockCount: number;
  readonly blockSize = PARTITION_BLOCK_SIZE;

  constructor(
    readonly entry: PartitionEntry,
    private readonly flash: NorFlash,
    private readonly esp32: Esp32Services,
  ) {
    this.blockCount = Math.floor(entry.size / PARTITION_BLOCK_SIZE);
  }

  /** `ioctl(6, block)`: erase one block. */
  eraseBlock(block: number): void {
    try {
      this.flash.eraseSector(this.entry.offset + block * PARTITION_BLOCK_SIZE);
    } catch (error) {
      throw MicroPythonOsError.fromEsp(error);
    }
  }

  /** `writeblocks(block, data, offset)`: programs without erasing. */
  writeBlocks(block: number, data: Uint8Array, offset: number): void {
    try {
      this.flash.program(this.entry.offset + block * PARTITION_BLOCK_SIZE + offset, data);
    } catch (error) {
      throw MicroPythonOsError.fromEsp(error);
    }
  }

  /** `set_boot()` = `esp_ota_set_boot_partition`, which validates the image first. */
  setBoot(): void {
    try {
      this.esp32.ota.setBootPartition(this.entry);
    } catch (error) {
      throw MicroPythonOsError.fromEsp(error);
    }
  }

  /**
   * The boot slot switched without validating what it holds (`esp_ota_set_boot_partition_skip_validate`),
   * the only way firmware can select a slot it has not written yet (the `sets-boot-at-begin` defect).
   */
  setBootSkippingValidation(): void {
    try {
      this.esp32.ota.setBootPartitionSkipValidate(this.entry);
    } catch (error) {
      throw MicroPythonOsError.fromEsp(error);
    }
  }

  /**
   * `set_boot()` built against a broken otadata writer: the same validation and entry choice as
   * esp_rewrite_ota_data, but the entry is programmed over the old one without erasing its
   * sector, so NOR flash ANDs the two (the `otadata-in-place` defect).
   */
  setBootWritingOtadataInPlace(): void {
    const chip = resolveEsp32Chip({
      chipId: this.esp32.chipId,
      rollback: this.esp32.rollback,
      antiRollback: this.esp32.antiRollback,
      efuse: this.esp32.efuse,
    });
    const verdict = verifyPartitionImage(this.flash, this.entry, chip);
    if (!verdict.valid)
      throw new MicroPythonOsError(-ESP_ERR.ESP_ERR_OTA_VALIDATE_FAILED, 'ESP_ERR_OTA_VALIDATE_FAILED');
    const otadata = otadataPartition(this.esp32.table);
    if (!otadata || this.entry.subtype === APP_SUBTYPE_FACTORY) {
      this.setBoot();
      return;
    }
    const entries = readOtadata(this.flash, otadata);
    const slotCount = otaAppPartitions(this.esp32.table).length;
    const slot = this.entry.subtype & 0x0f;
    const active = selectActiveEntry(entries);
    let index: 0 | 1 = 0;
    let seq = slot + 1;
    if (active !== -1) {
      const activeSeq = entries[active]!.seq;
      if (otaSlotForSeq(activeSeq, slotCount) === slot) {
        index = active;
        seq = activeSeq;
      } else {
        index = (active ^ 1) as 0 | 1;
        seq = computeSeqForSlot(activeSeq, slot, slotCount);
      }
    }
    const state = this.esp32.rollback ? OtaState.NEW : OtaState.UNDEFINED;
    writeOtadataEntry(
      this.flash,
      otadata,
      index,
      { ...entries[index]!, seq, state, crc: otaSeqCrc(seq) },
      { order: 'in-place' },
    );
  }
}

/** Where a sequential write failed: erasing a block or programming at an offset. */
export class PartitionWriteError extends Error {
  readonly code = 'PARTITION_WRITE_FAILED';

  constructor(
    readonly stage: 'erase' | 'write',
    /** The block (erase) or the byte offset in the partition (write). */
    readonly position: number,
    readonly osError: MicroPythonOsError,
  ) {
    super(`${stage} failed at ${stage === 'erase' ? 'block' : 'offset'} ${position}: ${osError.repr()}`);
  }
}

/**
 * The write loop of `ota_write`: every block touched for the first time is erased, then the data
 * is programmed block by block with the non-erasing `writeblocks`. One writer per session.
 */
export class LazyEraseWriter {
  private readonly erased: Uint8Array;

  constructor(readonly partition: MicroPythonPartition) {
    this.erased = new Uint8Array(partition.blockCount);
  }

  write(at: number, data: Uint8Array): void {
    const { partition, erased } = this;
    const blockSize = partition.blockSize;
    const end = at + data.length;
    for (let block = Math.floor(at / blockSize); block <= Math.floor((end - 1) / blockSize); block++) {
      if (erased[block]) continue;
      try {
        partition.eraseBlock(block);
      } catch (error) {
        throw new PartitionWriteError('erase', block, asOsError(error));
      }
      erased[block] = 1;
    }
    let position = 0;
    while (position < data.length) {
      const absolute = at + position;
      const blockOffset = absolute % blockSize;
      const step = Math.min(blockSize - blockOffset, data.length - position);
      try {
        partition.writeBlocks(
          Math.floor(absolute / blockSize),
          data.subarray(position, position + step),
          blockOffset,
        );
      } catch (error) {
        throw new PartitionWriteError('write', absolute, asOsError(error));
      }
      position += step;
    }
  }
}

function asOsError(error: unknown): MicroPythonOsError {
  return error instanceof MicroPythonOsError ? error : MicroPythonOsError.fromEsp(error);
}
