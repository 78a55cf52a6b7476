import { createHash } from 'node:crypto';
import type { Esp32Image } from '../../../fixtures/esp32-image/index.ts';
import {
  type Esp32Chip,
  type Esp32ChipOptions,
  EspLogger,
  type EspLogLevel,
  findingTag,
  imageFindingLogMessage,
  readAppDescriptor,
  resolveEsp32Chip,
  updateSecureVersion,
  verifyPartitionImage,
} from '../../esp32-ota-ops/index.ts';
import { FlashPowerLostError, type NorFlash } from '../../flash/index.ts';
import {
  isEntryInvalid,
  isEntryValid,
  type OtaSelectEntry,
  OtaState,
  otaSeqCrc,
  otaSlotForSeq,
  readOtadata,
  selectActiveEntry,
  writeOtadataEntry,
} from '../../otadata/index.ts';
import {
  APP_SUBTYPE_OTA_MIN,
  APP_SUBTYPE_TEST,
  factoryPartition,
  otaAppPartitions,
  otadataPartition,
  PARTITION_TABLE_LENGTH,
  PARTITION_TABLE_OFFSET,
  type PartitionEntry,
  type PartitionTable,
  PartitionTableError,
  PartitionType,
  parsePartitionTable,
  partitionUsage,
} from '../../partition-table/index.ts';
import { type Esp32ResetReason, esp32RomLines } from './rom-log.ts';

export const FACTORY_INDEX = -1;
export const TEST_APP_INDEX = -2;

export interface Esp32BootOptions {
  flash: NorFlash;
  /** Pass the same chip options (and so the same eFuse object) to every boot of one device. */
  chip?: Esp32ChipOptions;
  resetReason?: Esp32ResetReason;
  partitionTableOffset?: number;
  /** `I (27) boot: …` (default) or `I boot: …` as with CONFIG_LOG_TIMESTAMP_SOURCE_NONE. */
  logTimestamps?: boolean;
}

export type Esp32BootResult =
  | {
      booted: true;
      partition: PartitionEntry;
      /** -1 factory, -2 test, n for ota_n. */
      slot: number;
      image: Esp32Image;
      /** SHA-256 (hex) of the image bytes that booted, checksum and digest included. */
      imageSha256: string;
      table: PartitionTable;
      log: string[];
    }
  | {
      booted: false;
      reason: string;
      log: string[];
      /** The power went during one of the bootloader's own flash writes: the log ends where the chip stopped. */
      powerLost?: true;
    };

/** Bootloader init time before the first `boot:` line, as on a real ESP32 (§7.2 sample). */
const FIRST_LOG_MS = 27;

interface BootState {
  table: PartitionTable;
  factory: PartitionEntry | undefined;
  test: PartitionEntry | undefined;
  /** `bs->ota[subtype & 0x0F]`: OTA partitions by the low nibble of their subtype. */
  otaBySlot: (PartitionEntry | undefined)[];
  /** `bs->app_count`: how many ota_N partitions the table lists. */
  appCount: number;
  otadata: PartitionEntry | undefined;
}

/**
 * One run of the ESP-IDF second-stage bootloader on an emulated ESP32 (`bootloader_utility.c`,
 * reference/esp-idf.md §3.4–3.6, §7): load the partition table, pick a partition from otadata
 * (rewriting otadata where the real one does), verify and load the image with the fallback walk,
 * and print the console a real chip prints. A power cut during one of its otadata writes ends
 * the boot there (`powerLost`), with the lines printed up to that moment, as a chip simply stops.
 */
export function bootEsp32(options: Esp32BootOptions): Esp32BootResult {
  const lines: string[] = [];
  try {
    return bootInto(options, lines);
  } catch (error) {
    if (!(error instanceof FlashPowerLostError)) throw error;
    return {
      booted: false,
      reason: "the power went during the bootloader's flash write",
      log: lines,
      powerLost: true,
    };
  }
}

function bootInto(options: Esp32BootOptions, lines: string[]): Esp32BootResult {
  const { flash } = options;
  const chip = resolveEsp32Chip(options.chip);
  const bootStartMs = flash.clock.now();
  let logCount = 0;
  const logger = new EspLogger(
    (line) => {
      lines.push(line);
      logCount++;
    },
    () => FIRST_LOG_MS + logCount + (flash.clock.now() - bootStartMs),
    options.logTimestamps ?? true,
  );
  const log = (level: EspLogLevel, message: string) => logger.log(level, 'boot', message);

  for (const line of esp32RomLines(options.resetReason ?? 'POWERON_RESET')) logger.raw(line);
  logCount = 0;
  log('I', `ESP-IDF ${chip.idfVersion} 2nd stage bootloader`);
  log('I', 'Multicore bootloader');
  log('I', 'chip revision: v1.0');
  logger.log('I', 'boot.esp32', 'SPI Speed      : 40MHz');
  logger.log('I', 'boot.esp32', 'SPI Mode       : DIO');
  logger.log('I', 'boot.esp32', `SPI Flash Size : ${flashSizeName(flash.size)}`);
  log('I', 'Enabling RNG early entropy source...');

  const state = loadPartitionTable(flash, options.partitionTableOffset ?? PARTITION_TABLE_OFFSET, logger);
  if (!state) {
    log('E', 'load partition table error!');
    return { booted: false, reason: 'the partition table failed verification', log: lines };
  }

  const context: BootContext = { flash, chip, state, logger, log, otaHasInitialContents: false };
  const startIndex = selectBootPartition(context);
  if (startIndex === undefined) {
    return { booted: false, reason: 'the otadata partition could not be read', log: lines };
  }
  const loaded = loadBootImage(context, startIndex);
  if (!loaded) {
    return { booted: false, reason: 'no app partition holds a bootable image', log: lines };
  }

  log('I', 'Disabling RNG early entropy source...');
  logAppInfo(logger, loaded.image, chip);
  return {
    booted: true,
    partition: loaded.partition,
    slot: loaded.index,
    image: loaded.image,
    imageSha256: createHash('sha256').update(loaded.bytes).digest('hex'),
    table: state.table,
    log: lines,
  };
}

interface BootContext {
  flash: NorFlash;
  chip: Esp32Chip;
  state: BootState;
  logger: EspLogger;
  log: (level: EspLogLevel, message: string) => void;
  /** Set when no factory exists and otadata is blank: the first OTA app to load gets `ota_seq` written. */
  otaHasInitialContents: boolean;
}

function loadPartitionTable(flash: NorFlash, offset: number, logger: EspLogger): BootState | undefined {
  let table: PartitionTable;
  try {
    table = parsePartitionTable(flash.read(offset, PARTITION_TABLE_LENGTH), { flashSize: flash.size });
  } catch (error) {
    if (!(error instanceof PartitionTableError)) throw error;
    logger.log('E', 'flash_parts', error.bootloaderLog ?? error.message);
    logger.log('E', 'boot', 'Failed to verify partition table');
    return undefined;
  }
  logger.log('I', 'boot', 'Partition Table:');
  logger.log('I', 'boot', '## Label            Usage          Type ST Offset   Length');
  table.entries.forEach((entry, index) => {
    logger.log(
      'I',
      'boot',
      `${String(index).padStart(2)} ${entry.label.padEnd(16)} ${partitionUsage(entry).padEnd(16)} ${hex(entry.type, 2)} ${hex(entry.subtype, 2)} ${hex(entry.offset, 8)} ${hex(entry.size, 8)}`,
    );
  });
  logger.log('I', 'boot', 'End of partition table');

  const otaBySlot: (PartitionEntry | undefined)[] = new Array(16).fill(undefined);
  const otaApps = otaAppPartitions(table);
  for (const entry of otaApps) otaBySlot[entry.subtype & 0x0f] = entry;
  return {
    table,
    factory: factoryPartition(table),
    test: table.entries.findLast((e) => e.type === PartitionType.app && e.subtype === APP_SUBTYPE_TEST),
    otaBySlot,
    appCount: otaApps.length,
    otadata: otadataPartition(table),
  };
}

/** `bootloader_utility_get_selected_boot_partition`: the index to start loading from, or undefined (INVALID_INDEX). */
function selectBootPartition(context: BootContext): number | undefined {
  const { flash, chip, state, log } = context;
  const otadataPart = state.otadata;
  if (!otadataPart) return FACTORY_INDEX;
  if (otadataPart.size < 0x2000) {
    log('E', `ota_info partition size ${otadataPart.size} is too small (minimum 8192 bytes)`);
    return undefined;
  }
  const entries = readOtadata(flash, otadataPart);
  context.otaHasInitialContents = false;

  if (chip.rollback) {
    for (const index of [0, 1] as const) {
      if (entries[index].state === OtaState.PENDING_VERIFY) {
        // The app never confirmed itself before this reset: the bootloader gives up on it.
        entries[index] = { ...entries[index], state: OtaState.ABORTED };
        writeOtadata(context, index, entries[index]);
      }
    }
  }

  const isBlankOrBadCrc = (entry: OtaSelectEntry) =>
    entry.seq === 0xffffffff || entry.crc !== otaSeqCrc(entry.seq);
  let active: -1 | 0 | 1;
  if (!chip.antiRollback) {
    if ((isEntryInvalid(entries[0]) && isEntryInvalid(entries[1])) || state.appCount === 0) {
      if (state.factory) {
        log('I', 'Defaulting to factory image');
        return FACTORY_INDEX;
      }
      log('I', 'No factory image, trying OTA 0');
      if (isBlankOrBadCrc(entries[0]) && isBlankOrBadCrc(entries[1])) context.otaHasInitialContents = true;
      return 0;
    }
    active = selectActiveEntry(entries);
  } else {
    log('I', 'Enabled a check secure version of app for anti rollback');
    log('I', `Secure version (from eFuse) = ${chip.efuse.value}`);
    if (isBlankOrBadCrc(entries[0]) && isBlankOrBadCrc(entries[1])) {
      log('I', 'otadata[0..1] in initial state');
      context.otaHasInitialContents = true;
      return FACTORY_INDEX;
    }
    const usable = [0, 1].map((index) => {
      const entry = entries[index as 0 | 1];
      if (!isEntryValid(entry)) return false;
      const slot = state.otaBySlot[otaSlotForSeq(entry.seq, state.appCount)];
      return slot !== undefined && secureVersionAllows(context, slot);
    }) as [boolean, boolean];
    active = selectActiveEntry(entries, usable);
  }

  if (active === -1) {
    if (state.factory) log('E', 'ota data partition invalid, falling back to factory');
    else log('E', 'ota data partition invalid and no factory, will try all partitions');
    return FACTORY_INDEX;
  }
  const entry = entries[active];
  const bootIndex = otaSlotForSeq(entry.seq, state.appCount);
  if (chip.rollback && entry.state === OtaState.NEW) {
    // First boot of a new app: from now on a reset before it confirms itself rolls it back.
    entries[active] = { ...entry, state: OtaState.PENDING_VERIFY };
    writeOtadata(context, active, entries[active]);
  }
  if (chip.antiRollback && entry.state === OtaState.VALID) {
    const partition = state.otaBySlot[bootIndex];
    if (partition) burnSecureVersionOf(context, partition);
  }
  return bootIndex;
}

interface LoadedApp {
  index: number;
  partition: PartitionEntry;
  image: Esp32Image;
  bytes: Uint8Array;
}

/** `bootloader_utility_load_boot_image`: the start index, then backwards to factory, then forwards, then test. */
function loadBootImage(context: BootContext, startIndex: number): LoadedApp | undefined {
  const { state, log } = context;
  const tryIndex = (index: number): LoadedApp | undefined => {
    const partition = partitionAt(state, index);
    if (!partition) return undefined;
    const loaded = secureVersionAllows(context, partition) ? tryLoad(context, partition) : undefined;
    if (loaded) {
      setActualOtaSeq(context, index);
      return { index, partition, ...loaded };
    }
    logNotBootable(log, index);
    return undefined;
  };

  for (let index = startIndex; index >= FACTORY_INDEX; index--) {
    const loaded = tryIndex(index);
    if (loaded) return loaded;
  }
  for (let index = startIndex + 1; index < state.appCount; index++) {
    const loaded = tryIndex(index);
    if (loaded) return loaded;
  }
  if (state.test && state.test.size > 0 && secureVersionAllows(context, state.test)) {
    const loaded = tryLoad(context, state.test);
    if (loaded) {
      log('W', 'Falling back to test app as only bootable partition');
      return { index: TEST_APP_INDEX, partition: state.test, ...loaded };
    }
  }
  log('E', 'No bootable app partitions in the partition table');
  return undefined;
}

function partitionAt(state: BootState, index: number): PartitionEntry | undefined {
  const partition =
    index === FACTORY_INDEX
      ? state.factory
      : index === TEST_APP_INDEX
        ? state.test
        : index >= 0 && index < 16 && index < state.appCount
          ? state.otaBySlot[index]
          : undefined;
  return partition && partition.size > 0 ? partition : undefined;
}

/** `try_load_partition`: verify and load, printing the segment lines as esp_image does. */
function tryLoad(
  context: BootContext,
  partition: PartitionEntry,
): { image: Esp32Image; bytes: Uint8Array } | undefined {
  const { flash, chip, logger } = context;
  const verdict = verifyPartitionImage(
    flash,
    partition,
    chip,
    chip.antiRollback ? chip.efuse.value : undefined,
  );
  if (verdict.valid) {
    logSegments(logger, partition, verdict.image);
    logger.log('I', 'boot', `Loaded app from partition at offset 0x${partition.offset.toString(16)}`);
    return { image: verdict.image, bytes: verdict.bytes };
  }
  // Checks after the segment walk fail once every segment line is already on the console.
  if (verdict.image && SEGMENT_WALK_FINDINGS.has(verdict.finding.code))
    logSegments(logger, partition, verdict.image);
  logger.log(
    'E',
    findingTag(verdict.finding),
    imageFindingLogMessage(verdict.finding, partition.offset, partition.size),
  );
  return undefined;
}

const SEGMENT_WALK_FINDINGS = new Set([
  'checksum-mismatch',
  'sha256-mismatch',
  'oversize',
  'secure-version-too-low',
]);

function logSegments(logger: EspLogger, partition: PartitionEntry, image: Esp32Image): void {
  for (const segment of image.segments) {
    const address = segment.loadAddress;
    const suffix = isMapped(address) ? 'map' : address >= 0x1000_0000 ? 'load' : '';
    logger.log(
      'I',
      'esp_image',
      `segment ${segment.index}: paddr=${hex(partition.offset + segment.dataOffset, 8)} vaddr=${hex(address, 8)} size=${hex(segment.length, 5)}h (${String(segment.length).padStart(6)}) ${suffix}`,
    );
  }
}

/** ESP32 flash-mapped ranges: DROM 0x3F400000–0x3F800000, IROM 0x400D0000–0x40400000. */
function isMapped(address: number): boolean {
  return (
    (address >= 0x3f40_0000 && address < 0x3f80_0000) || (address >= 0x400d_0000 && address < 0x4040_0000)
  );
}

/** `check_anti_rollback`: with anti-rollback, an app below the eFuse secure version is not even tried. */
function secureVersionAllows(context: BootContext, partition: PartitionEntry): boolean {
  if (!context.chip.antiRollback) return true;
  const descriptor = readAppDescriptor(context.flash, partition);
  if (!descriptor) {
    context.log('E', 'Failed to get partition description 261');
    return false;
  }
  return context.chip.efuse.allows(descriptor.secureVersion);
}

function burnSecureVersionOf(context: BootContext, partition: PartitionEntry): void {
  const descriptor = readAppDescriptor(context.flash, partition);
  if (!descriptor) {
    context.log('E', 'Failed to get partition description 261');
    return;
  }
  updateSecureVersion(context.chip.efuse, descriptor.secureVersion, (level, tag, message) =>
    context.logger.log(level, tag, message),
  );
}

/** `set_actual_ota_seq`: blank otadata and no factory → record the OTA slot that booted as VALID in entry 0. */
function setActualOtaSeq(context: BootContext, index: number): void {
  if (index <= FACTORY_INDEX || !context.otaHasInitialContents) return;
  const seq = index + 1;
  writeOtadata(context, 0, {
    seq,
    label: new Uint8Array(20).fill(0xff),
    state: OtaState.VALID,
    crc: otaSeqCrc(seq),
  });
  context.log('I', `Set actual ota_seq=${seq} in otadata[0]`);
  if (context.chip.antiRollback) {
    const partition = context.state.otaBySlot[index];
    if (partition) burnSecureVersionOf(context, partition);
  }
}

/** `write_otadata`: erase the entry's sector, then program its 32 bytes. */
function writeOtadata(context: BootContext, index: 0 | 1, entry: OtaSelectEntry): void {
  const otadata = context.state.otadata;
  if (!otadata) return;
  writeOtadataEntry(context.flash, otadata, index, entry);
}

function logNotBootable(log: (level: EspLogLevel, message: string) => void, index: number): void {
  if (index === FACTORY_INDEX) log('E', 'Factory app partition is not bootable');
  else if (index === TEST_APP_INDEX) log('E', 'Factory test app partition is not bootable');
  else log('E', `OTA app partition slot ${index} is not bootable`);
}

/** `esp_app_desc.c`: what the app prints about itself once it runs. */
function logAppInfo(logger: EspLogger, image: Esp32Image, chip: Esp32Chip): void {
  const descriptor = image.appDescriptor;
  if (!descriptor) return;
  const info = (message: string) => logger.log('I', 'app_init', message);
  info('Application information:');
  info(`Project name:     ${descriptor.projectName}`);
  info(`App version:      ${descriptor.version}`);
  if (chip.antiRollback) info(`Secure version:   ${descriptor.secureVersion}`);
  info(`Compile time:     ${descriptor.date} ${descriptor.time}`);
  info(`ELF file SHA256:  ${Buffer.from(descriptor.appElfSha256.subarray(0, 8)).toString('hex')}...`);
  info(`ESP-IDF:          ${descriptor.idfVersion}`);
}

function flashSizeName(bytes: number): string {
  const megabytes = bytes / 0x10_0000;
  return megabytes >= 1 ? `${Math.floor(megabytes)}MB` : `${Math.floor(bytes / 1024)}KB`;
}

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}

/** The OTA slot index of an ota_N partition, for callers that hold a partition rather than an index. */
export function otaSlotOf(partition: PartitionEntry): number {
  return partition.subtype - APP_SUBTYPE_OTA_MIN;
}
