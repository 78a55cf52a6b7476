import type { AppDescriptor } from '../../fixtures/esp32-image/index.ts';
import type { NorFlash } from '../flash/index.ts';
import {
  computeSeqForSlot,
  isEntryInvalid,
  isEntryValid,
  type OtaSelectEntry,
  OtaState,
  otaSeqCrc,
  otaSlotForSeq,
  readOtadata,
  selectActiveEntry,
  writeOtadataEntry,
} from '../otadata/index.ts';
import {
  APP_SUBTYPE_FACTORY,
  APP_SUBTYPE_OTA_MIN,
  APP_SUBTYPE_TEST,
  factoryPartition,
  isOtaAppSubtype,
  otaAppPartitions,
  otadataPartition,
  type PartitionEntry,
  type PartitionTable,
  PartitionType,
} from '../partition-table/index.ts';
import { verifyAppSignature } from './app-signature.ts';
import { EspError } from './esp-error.ts';
import { EspLogger, type EspLogLevel } from './esp-log.ts';
import {
  type Esp32Chip,
  type Esp32ChipOptions,
  findingTag,
  imageFindingLogMessage,
  readAppDescriptor,
  resolveEsp32Chip,
  verifyPartitionImage,
} from './esp32-chip.ts';
import { updateSecureVersion } from './secure-version-efuse.ts';

export const OTA_SIZE_UNKNOWN = 0xffffffff;
export const OTA_WITH_SEQUENTIAL_WRITES = 0xfffffffe;

const SECTOR_SIZE = 4096;
const IMAGE_MAGIC = 0xe9;
const PARTITION_TABLE_MAGIC = 0x50aa;

/** `esp_ota_handle_t`: 1 for the first handle of a boot, counting up. */
export type OtaHandle = number;

interface OtaOperation {
  readonly handle: OtaHandle;
  readonly partition: PartitionEntry;
  readonly needErase: boolean;
  wroteSize: number;
}

export interface EspOtaOpsOptions {
  flash: NorFlash;
  table: PartitionTable;
  /** The partition the app runs from (what `esp_ota_get_running_partition` finds), read from the boot. */
  running: PartitionEntry;
  chip?: Esp32ChipOptions;
  /** Receives each log line, `E (12) esp_ota_ops: …`. */
  log?: (line: string) => void;
  /** Timestamps as the app sees them; defaults to ms of flash time since this object was made. */
  millisecondsSinceBoot?: () => number;
}

/**
 * The app side of ESP-IDF OTA (`components/app_update/esp_ota_ops.c`, reference/esp-idf.md §3.4–3.6,
 * §4) on an emulated flash: one instance lives for one boot of the app. Every call does the same
 * flash operations, in the same order, as the C code, so a power cut at any byte leaves the
 * flash as a chip's would be left. Failures throw EspError with the esp_err_t the C call returns.
 */
export class EspOtaOps {
  private readonly flash: NorFlash;
  private readonly table: PartitionTable;
  private readonly running: PartitionEntry;
  private readonly chip: Esp32Chip;
  private readonly logger: EspLogger;
  private readonly operations = new Map<OtaHandle, OtaOperation>();
  private lastHandle = 0;

  constructor(options: EspOtaOpsOptions) {
    this.flash = options.flash;
    this.table = options.table;
    this.chip = resolveEsp32Chip(options.chip);
    const running = this.findInTable(options.running);
    if (!running || running.type !== PartitionType.app) {
      throw new EspError(
        'ESP_ERR_NOT_FOUND',
        `running partition '${options.running.label}' is not an app partition of the table`,
      );
    }
    this.running = running;
    const bootTime = this.flash.clock.now();
    this.logger = new EspLogger(
      options.log ?? (() => {}),
      options.millisecondsSinceBoot ?? (() => this.flash.clock.now() - bootTime),
    );
  }

  getRunningPartition(): PartitionEntry {
    return this.running;
  }

  /** `esp_ota_get_boot_partition`: the bootloader's choice from otadata, without touching rollback state. */
  getBootPartition(): PartitionEntry | undefined {
    const otadata = this.readOtadataOrUndefined();
    if (!otadata) return undefined;
    const { entries } = otadata;
    const slots = otaAppPartitions(this.table);
    if ((isEntryInvalid(entries[0]) && isEntryInvalid(entries[1])) || slots.length === 0) {
      return this.defaultBootPartition();
    }
    const active = selectActiveEntry(entries);
    if (active === -1) {
      this.log('E', 'ota data invalid, no current app. Assuming factory');
      return this.defaultBootPartition();
    }
    return this.otaSlot(otaSlotForSeq(entries[active]!.seq, slots.length));
  }

  /** `esp_ota_get_next_update_partition`: the OTA slot after `start` (default: the running one), wrapping. */
  getNextUpdatePartition(start?: PartitionEntry): PartitionEntry | undefined {
    const from = start ? this.findInTable(start) : this.running;
    if (!from) throw new EspError('ESP_ERR_NOT_FOUND', `partition '${start?.label}' is not in the table`);
    let firstOta: PartitionEntry | undefined;
    let nextIsResult = false;
    for (let subtype = APP_SUBTYPE_OTA_MIN; subtype < APP_SUBTYPE_OTA_MIN + 16; subtype++) {
      const candidate = this.findFirst(PartitionType.app, subtype);
      if (!candidate) continue;
      firstOta ??= candidate;
      if (sameAddress(candidate, from)) nextIsResult = true;
      else if (nextIsResult) return candidate;
    }
    return firstOta;
  }

  begin(partition: PartitionEntry, imageSize: number): OtaHandle {
    const target = this.findInTable(partition);
    if (!target)
      throw new EspError('ESP_ERR_NOT_FOUND', `partition '${partition.label}' is not in the table`);
    if (target.type === PartitionType.app) {
      if (!isOtaAppSubtype(target.type, target.subtype)) {
        throw new EspError(
          'ESP_ERR_INVALID_ARG',
          `'${target.label}' is not an OTA app slot; only ota_0..ota_15 can be staged`,
        );
      }
      if (sameAddress(target, this.running)) {
        throw new EspError('ESP_ERR_OTA_PARTITION_CONFLICT', `'${target.label}' is the running partition`);
      }
      if (this.chip.rollback && this.stateOfSlot(this.running) === OtaState.PENDING_VERIFY) {
        this.log('E', 'Running app has not confirmed state (ESP_OTA_IMG_PENDING_VERIFY)');
        throw new EspError(
          'ESP_ERR_OTA_ROLLBACK_INVALID_STATE',
          'the running app is still PENDING_VERIFY; mark it valid before starting another update',
        );
      }
    }
    for (const operation of this.operations.values()) {
      if (sameAddress(operation.partition, target)) {
        this.log('E', `OTA operation already in progress on partition ${target.label}`);
        throw new EspError(
          'ESP_ERR_OTA_ALREADY_IN_PROGRESS',
          `an update of '${target.label}' is already open`,
        );
      }
    }
    const handle = ++this.lastHandle;
    const needErase = imageSize === OTA_WITH_SEQUENTIAL_WRITES;
    this.operations.set(handle, { handle, partition: target, needErase, wroteSize: 0 });
    if (!needErase) {
      const eraseSize =
        imageSize === 0 || imageSize === OTA_SIZE_UNKNOWN ? target.size : alignUp(imageSize, SECTOR_SIZE);
      this.eraseInPartition(target, 0, eraseSize);
    }
    if (
      this.chip.rollback &&
      this.chip.idfVersion !== 'v5.4' &&
      isOtaAppSubtype(target.type, target.subtype)
    ) {
      // v5.5+: forget the slot the update is about to overwrite, so a rollback cannot pick a half-written app.
      this.eraseLastBootApp(true);
    }
    return handle;
  }

  write(handle: OtaHandle, data: Uint8Array): void {
    if (data.length === 0) return;
    const operation = this.operations.get(handle);
    if (!operation) {
      this.log('E', 'not found the handle');
      throw new EspError('ESP_ERR_INVALID_ARG', `no open OTA handle ${handle}`);
    }
    const { partition } = operation;
    if (operation.needErase) {
      const firstSector = Math.floor(operation.wroteSize / SECTOR_SIZE);
      const lastSector = Math.floor((operation.wroteSize + data.length - 1) / SECTOR_SIZE);
      if (operation.wroteSize % SECTOR_SIZE === 0) {
        this.eraseInPartition(partition, operation.wroteSize, (lastSector - firstSector + 1) * SECTOR_SIZE);
      } else if (firstSector !== lastSector) {
        this.eraseInPartition(
          partition,
          (firstSector + 1) * SECTOR_SIZE,
          (lastSector - firstSector) * SECTOR_SIZE,
        );
      }
    }
    if (operation.wroteSize === 0) {
      if (partition.type === PartitionType.app || partition.type === PartitionType.bootloader) {
        if (data[0] !== IMAGE_MAGIC) {
          this.log('E', `OTA image has invalid magic byte (expected 0xE9, saw 0x${hex2(data[0]!)})`);
          throw new EspError(
            'ESP_ERR_OTA_VALIDATE_FAILED',
            `the image starts with 0x${hex2(data[0]!)}, not 0xE9`,
          );
        }
      } else if (partition.type === PartitionType.partition_table && data.length >= 2) {
        const magic = data[0]! | (data[1]! << 8);
        if (magic !== PARTITION_TABLE_MAGIC) {
          this.log(
            'E',
            `Partition table image has invalid magic word (expected 0x50AA, saw 0x${magic.toString(16).padStart(4, '0')})`,
          );
          throw new EspError('ESP_ERR_OTA_VALIDATE_FAILED', 'the partition table does not start with 0x50AA');
        }
      }
    }
    this.writeInPartition(partition, operation.wroteSize, data);
    operation.wroteSize += data.length;
  }

  /** `esp_ota_write_with_offset`: random-access writes; no magic check and no erase. */
  writeWithOffset(handle: OtaHandle, data: Uint8Array, offset: number): void {
    const operation = this.operations.get(handle);
    if (!operation) {
      this.log('E', 'OTA handle not found');
      throw new EspError('ESP_ERR_INVALID_ARG', `no open OTA handle ${handle}`);
    }
    if (operation.needErase) {
      throw new EspError(
        'ESP_ERR_INVALID_STATE',
        'esp_ota_write_with_offset on a handle begun with OTA_WITH_SEQUENTIAL_WRITES (the C code asserts)',
      );
    }
    this.writeInPartition(operation.partition, offset, data);
    operation.wroteSize += data.length;
  }

  end(handle: OtaHandle): void {
    const operation = this.operations.get(handle);
    if (!operation) throw new EspError('ESP_ERR_NOT_FOUND', `no open OTA handle ${handle}`);
    // The handle is freed whatever the outcome, as in the C code.
    this.operations.delete(handle);
    if (operation.wroteSize === 0) {
      throw new EspError('ESP_ERR_INVALID_ARG', 'esp_ota_end on a handle nothing was written to');
    }
    const { partition } = operation;
    if (partition.type === PartitionType.app || partition.type === PartitionType.bootloader) {
      if (!this.imageIsValid(partition, 'verify')) {
        if (this.chip.idfVersion !== 'v5.4') this.log('E', 'New image failed verification');
        throw new EspError(
          'ESP_ERR_OTA_VALIDATE_FAILED',
          `the image written to '${partition.label}' failed verification`,
        );
      }
    }
  }

  abort(handle: OtaHandle): void {
    if (!this.operations.delete(handle))
      throw new EspError('ESP_ERR_NOT_FOUND', `no open OTA handle ${handle}`);
  }

  setBootPartition(partition: PartitionEntry): void {
    const target = this.findInTable(partition);
    if (!target)
      throw new EspError('ESP_ERR_NOT_FOUND', `partition '${partition.label}' is not in the table`);
    if (!this.imageIsValid(target, 'verify')) {
      throw new EspError('ESP_ERR_OTA_VALIDATE_FAILED', `'${target.label}' holds no valid app image`);
    }
    this.setBootPartitionSkipValidate(target);
  }

  /** `esp_ota_set_boot_partition_skip_validate`. */
  setBootPartitionSkipValidate(partition: PartitionEntry): void {
    const target = this.findInTable(partition);
    if (!target || target.type !== PartitionType.app) {
      throw new EspError('ESP_ERR_INVALID_ARG', `'${partition.label}' is not an app partition of the table`);
    }
    if (target.subtype === APP_SUBTYPE_FACTORY) {
      const otadata = otadataPartition(this.table);
      if (!otadata) throw new EspError('ESP_ERR_NOT_FOUND', 'the table has no otadata partition');
      this.eraseInPartition(otadata, 0, otadata.size);
      return;
    }
    if (this.chip.antiRollback) {
      const descriptor = readAppDescriptor(this.flash, target);
      if (!descriptor) throw new EspError('ESP_ERR_NOT_FOUND', `'${target.label}' has no app descriptor`);
      if (!this.chip.efuse.allows(descriptor.secureVersion)) {
        this.log(
          'E',
          'This a new partition can not be booted due to a secure version is lower than stored in efuse. Partition will be erased.',
        );
        this.eraseInPartition(target, 0, target.size);
        throw new EspError(
          'ESP_ERR_OTA_SMALL_SEC_VER',
          `secure_version ${descriptor.secureVersion} of '${target.label}' is below the eFuse value ${this.chip.efuse.value}`,
        );
      }
    }
    this.rewriteOtaData(target.subtype);
  }

  markAppValidCancelRollback(): void {
    this.currentOtaIsWorkable(true);
  }

  /** `esp_ota_mark_app_invalid_rollback_and_reboot`: returns 'reboot' where the chip would restart. */
  markAppInvalidRollbackAndReboot(): 'reboot' {
    this.currentOtaIsWorkable(false);
    return 'reboot';
  }

  /** `esp_ota_get_state_partition`: the ota_state of the entry that maps to this slot, or undefined (ESP_ERR_NOT_FOUND). */
  getStateOf(partition: PartitionEntry): number | undefined {
    const target = this.findInTable(partition);
    if (!target || !isOtaAppSubtype(target.type, target.subtype)) {
      throw new EspError('ESP_ERR_NOT_SUPPORTED', `'${partition.label}' is not an OTA app slot`);
    }
    return this.stateOfSlot(target);
  }

  /** `esp_ota_get_last_invalid_partition`: the INVALID/ABORTED slot with the lower seq, if its app still verifies. */
  getLastInvalidPartition(): PartitionEntry | undefined {
    const otadata = this.readOtadataOrUndefined();
    const slots = otaAppPartitions(this.table);
    if (!otadata || slots.length === 0) return undefined;
    const { entries } = otadata;
    const isInvalidWithCrc = (entry: OtaSelectEntry) =>
      entry.seq !== 0xffffffff &&
      entry.crc === otaSeqCrc(entry.seq) &&
      (entry.state === OtaState.INVALID || entry.state === OtaState.ABORTED);
    const chosen = selectLowerSeq(entries, [isInvalidWithCrc(entries[0]), isInvalidWithCrc(entries[1])]);
    if (chosen === -1) return undefined;
    const partition = this.otaSlot(otaSlotForSeq(entries[chosen]!.seq, slots.length));
    if (partition && !this.imageIsValid(partition, 'silent')) return undefined;
    return partition;
  }

  /** `esp_ota_check_rollback_is_possible`. */
  checkRollbackIsPossible(): boolean {
    const otadata = this.readOtadataOrUndefined();
    const slotCount = otaAppPartitions(this.table).length;
    if (!otadata || slotCount === 0) return false;
    const { entries } = otadata;
    const valid = [isEntryValid(entries[0]), isEntryValid(entries[1])] as const;
    const active = selectActiveEntry(entries, valid);
    if (active === -1) return false;
    const lastActive = active ^ 1;
    if (!this.chip.antiRollback && !valid[lastActive]) {
      const factory = factoryPartition(this.table);
      if (factory && this.imageIsValid(factory, 'silent')) return true;
    }
    if (valid[lastActive]) {
      const partition = this.otaSlot(otaSlotForSeq(entries[lastActive]!.seq, slotCount));
      if (partition && this.imageIsValid(partition, 'silent')) {
        if (!this.chip.antiRollback) return true;
        const descriptor = readAppDescriptor(this.flash, partition);
        return descriptor !== undefined && this.chip.efuse.allows(descriptor.secureVersion);
      }
    }
    return false;
  }

  /** `esp_ota_erase_last_boot_app_partition`: erases the previous app and its otadata entry. Throws ESP_FAIL when there is none. */
  eraseLastBootAppPartition(): void {
    this.eraseLastBootApp(false);
  }

  /** `esp_ota_get_partition_description`: the app descriptor at image offset 0x20. */
  getPartitionDescription(partition: PartitionEntry): AppDescriptor {
    const target = this.findInTable(partition);
    if (!target)
      throw new EspError('ESP_ERR_INVALID_ARG', `partition '${partition.label}' is not in the table`);
    if (target.type !== PartitionType.app) {
      throw new EspError('ESP_ERR_NOT_SUPPORTED', `'${target.label}' is not an app partition`);
    }
    const descriptor = readAppDescriptor(this.flash, target);
    if (!descriptor)
      throw new EspError('ESP_ERR_NOT_FOUND', `'${target.label}' has no app descriptor (magic 0xABCD5432)`);
    return descriptor;
  }

  /** Open update handles, for a status endpoint or a test. */
  get openHandles(): readonly OtaHandle[] {
    return [...this.operations.keys()];
  }

  private currentOtaIsWorkable(valid: boolean): void {
    const otadata = this.readOtadataOrUndefined();
    if (!otadata) throw new EspError('ESP_ERR_NOT_FOUND', 'the table has no otadata partition');
    const { partition, entries } = otadata;
    const active = selectActiveEntry(entries);
    if (active === -1 || otaAppPartitions(this.table).length === 0) {
      this.log('E', 'Running firmware is factory');
      throw new EspError('ESP_FAIL', 'no otadata entry is active: the running firmware is factory');
    }
    const entry = entries[active]!;
    if (valid) {
      if (entry.state === OtaState.VALID) return;
      this.rewriteEntry(partition, active, { ...entry, state: OtaState.VALID });
      if (this.chip.antiRollback) {
        const descriptor = readAppDescriptor(this.flash, this.running);
        if (!descriptor)
          throw new EspError('ESP_ERR_NOT_FOUND', `'${this.running.label}' has no app descriptor`);
        const outcome = updateSecureVersion(
          this.chip.efuse,
          descriptor.secureVersion,
          (level, tag, message) => this.logger.log(level, tag, message),
        );
        if (outcome === 'refused') {
          throw new EspError(
            'ESP_FAIL',
            `the running app's secure_version ${descriptor.secureVersion} is below the eFuse value`,
          );
        }
      }
      return;
    }
    if (!this.checkRollbackIsPossible()) {
      this.log('E', 'Rollback is not possible, do not have any suitable apps in slots');
      throw new EspError(
        'ESP_ERR_OTA_ROLLBACK_FAILED',
        'no other slot or factory app holds a bootable image',
      );
    }
    this.rewriteEntry(partition, active, { ...entry, state: OtaState.INVALID });
    this.log('I', 'Rollback to previously worked partition. Restart.');
  }

  /** `esp_rewrite_ota_data`: point otadata at an OTA slot. */
  private rewriteOtaData(subtype: number): void {
    const otadata = this.readOtadataOrUndefined();
    if (!otadata) throw new EspError('ESP_ERR_NOT_FOUND', 'the table has no otadata partition');
    const { partition, entries } = otadata;
    const slotCount = otaAppPartitions(this.table).length;
    const slot = subtype & 0x0f;
    if (slot >= slotCount) {
      throw new EspError('ESP_ERR_INVALID_ARG', `slot ${slot} is beyond the ${slotCount} OTA app partitions`);
    }
    const active = selectActiveEntry(entries);
    let index: 0 | 1;
    let seq: number;
    if (active !== -1) {
      const activeSeq = entries[active]!.seq;
      if (otaSlotForSeq(activeSeq, slotCount) === slot) {
        index = active;
        seq = activeSeq;
      } else {
        index = (active ^ 1) as 0 | 1;
        seq = computeSeqForSlot(activeSeq, slot, slotCount);
      }
    } else {
      index = 0;
      seq = slot + 1;
    }
    const state = this.chip.rollback ? OtaState.NEW : OtaState.UNDEFINED;
    this.rewriteEntry(partition, index, { ...entries[index]!, seq, state });
  }

  /** `erase_last_boot_app_partition(skip_app_part_erase)`. */
  private eraseLastBootApp(skipAppErase: boolean): void {
    const otadata = this.readOtadataOrUndefined();
    const slotCount = otaAppPartitions(this.table).length;
    if (!otadata) throw new EspError('ESP_FAIL', 'the table has no otadata partition');
    const { partition, entries } = otadata;
    const active = selectActiveEntry(entries);
    if (active === -1 || slotCount === 0) {
      if (skipAppErase) return;
      throw new EspError('ESP_FAIL', 'no otadata entry is active');
    }
    const inactive = active ^ 1;
    const entry = entries[inactive]!;
    const lastBootApp =
      entry.seq === 0xffffffff || entry.crc !== otaSeqCrc(entry.seq)
        ? undefined
        : this.otaSlot(otaSlotForSeq(entry.seq, slotCount));
    if (!lastBootApp || sameAddress(lastBootApp, this.running)) {
      if (skipAppErase) return;
      throw new EspError('ESP_FAIL', 'the inactive otadata entry names no other app');
    }
    if (!skipAppErase) this.eraseInPartition(lastBootApp, 0, lastBootApp.size);
    this.eraseInPartition(partition, inactive * SECTOR_SIZE, SECTOR_SIZE);
  }

  private stateOfSlot(partition: PartitionEntry): number | undefined {
    if (!isOtaAppSubtype(partition.type, partition.subtype)) return undefined;
    const otadata = this.readOtadataOrUndefined();
    const slotCount = otaAppPartitions(this.table).length;
    if (!otadata || slotCount === 0) return undefined;
    const wanted = partition.subtype - APP_SUBTYPE_OTA_MIN;
    for (const entry of otadata.entries) {
      if (otaSlotForSeq(entry.seq, slotCount) === wanted && entry.crc === otaSeqCrc(entry.seq))
        return entry.state;
    }
    return undefined;
  }

  private rewriteEntry(partition: PartitionEntry, index: 0 | 1, entry: OtaSelectEntry): void {
    writeOtadataEntry(this.flash, partition, index, { ...entry, crc: otaSeqCrc(entry.seq) });
  }

  private imageIsValid(partition: PartitionEntry, mode: 'verify' | 'silent'): boolean {
    const verdict = verifyPartitionImage(this.flash, partition, this.chip);
    if (!verdict.valid && mode === 'verify') {
      this.logger.log(
        'E',
        findingTag(verdict.finding),
        imageFindingLogMessage(verdict.finding, partition.offset, partition.size),
      );
    }
    if (!verdict.valid || this.chip.signedApps === undefined || mode === 'silent') return verdict.valid;
    return verifyAppSignature(
      this.flash.read(partition.offset, partition.size),
      verdict.image.imageLength,
      this.chip.signedApps,
      (level, tag, message) => this.logger.log(level, tag, message),
    );
  }

  private readOtadataOrUndefined():
    | { partition: PartitionEntry; entries: readonly [OtaSelectEntry, OtaSelectEntry] }
    | undefined {
    const partition = otadataPartition(this.table);
    if (!partition) {
      this.log('E', 'not found otadata');
      return undefined;
    }
    return { partition, entries: readOtadata(this.flash, partition) };
  }

  private defaultBootPartition(): PartitionEntry | undefined {
    const factory = this.findFirst(PartitionType.app, APP_SUBTYPE_FACTORY);
    if (factory) return factory;
    for (let subtype = APP_SUBTYPE_OTA_MIN; subtype < APP_SUBTYPE_OTA_MIN + 16; subtype++) {
      const ota = this.findFirst(PartitionType.app, subtype);
      if (ota) return ota;
    }
    const test = this.findFirst(PartitionType.app, APP_SUBTYPE_TEST);
    if (test) return test;
    this.log('E', 'invalid partition table, no app partitions');
    return undefined;
  }

  private otaSlot(slot: number): PartitionEntry | undefined {
    return this.findFirst(PartitionType.app, APP_SUBTYPE_OTA_MIN + slot);
  }

  private findFirst(type: number, subtype: number): PartitionEntry | undefined {
    return this.table.entries.find((entry) => entry.type === type && entry.subtype === subtype);
  }

  /** `esp_partition_verify`: the table's own record of a partition the caller holds. */
  private findInTable(partition: PartitionEntry): PartitionEntry | undefined {
    return this.table.entries.find(
      (entry) =>
        entry.offset === partition.offset &&
        entry.size === partition.size &&
        entry.type === partition.type &&
        entry.subtype === partition.subtype,
    );
  }

  /** `esp_partition_erase_range`: bounds-checked, 64 KiB blocks where aligned. */
  private eraseInPartition(partition: PartitionEntry, offset: number, length: number): void {
    if (offset + length > partition.size) {
      throw new EspError(
        'ESP_ERR_INVALID_SIZE',
        `erase of 0x${length.toString(16)} bytes at 0x${offset.toString(16)} runs past '${partition.label}'`,
      );
    }
    if (partition.readonly) throw new EspError('ESP_ERR_NOT_ALLOWED', `'${partition.label}' is read-only`);
    this.flash.eraseRange(partition.offset + offset, length);
  }

  /** `esp_partition_write`. */
  private writeInPartition(partition: PartitionEntry, offset: number, data: Uint8Array): void {
    if (offset + data.length > partition.size) {
      throw new EspError(
        'ESP_ERR_INVALID_SIZE',
        `write of ${data.length} bytes at 0x${offset.toString(16)} runs past the end of '${partition.label}'`,
      );
    }
    if (partition.readonly) throw new EspError('ESP_ERR_NOT_ALLOWED', `'${partition.label}' is read-only`);
    this.flash.program(partition.offset + offset, data);
  }

  private log(level: EspLogLevel, message: string): void {
    this.logger.log(level, 'esp_ota_ops', message);
  }
}

/** `bootloader_common_select_otadata(max = false)`: both flagged → the smaller seq; one → that one. */
function selectLowerSeq(
  entries: readonly [OtaSelectEntry, OtaSelectEntry],
  flagged: readonly [boolean, boolean],
): -1 | 0 | 1 {
  if (flagged[0] && flagged[1]) return entries[0].seq <= entries[1].seq ? 0 : 1;
  if (flagged[0]) return 0;
  if (flagged[1]) return 1;
  return -1;
}

function sameAddress(a: PartitionEntry, b: PartitionEntry): boolean {
  return a.offset === b.offset && a.type === b.type && a.subtype === b.subtype;
}

function alignUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}
