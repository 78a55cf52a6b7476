/**
 * A small emulated ESP32 for the boot and OTA tests: a 1 MiB NOR flash with a real partition
 * table (factory + ota_0 + ota_1 of 64 KiB by default), images from the fixtures builder, and
 * helpers that run one boot of the bootloader and hand the app an EspOtaOps for that boot.
 */
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import {
  type Esp32ChipOptions,
  EspOtaOps,
  OTA_SIZE_UNKNOWN,
  SecureVersionEfuse,
} from '../../esp32-ota-ops/index.ts';
import { FlashPowerLostError, NorFlash } from '../../flash/index.ts';
import { readOtadata } from '../../otadata/index.ts';
import {
  generatePartitionTable,
  PARTITION_TABLE_OFFSET,
  type PartitionEntry,
  type PartitionTable,
  parsePartitionTable,
} from '../../partition-table/index.ts';
import { bootEsp32, type Esp32BootResult } from './boot-esp32.ts';
import type { Esp32ResetReason } from './rom-log.ts';

export const APP_PARTITION_SIZE = 0x10000;
export const IMAGE_SIZE = 0x4000;

const part = (
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

export function rigPartitions(
  layout: { factory?: boolean; otaSlots?: number; test?: boolean } = {},
): PartitionEntry[] {
  const { factory = true, otaSlots = 2, test = false } = layout;
  const entries = [
    part('nvs', 1, 0x02, 0x9000, 0x4000),
    part('otadata', 1, 0x00, 0xd000, 0x2000),
    part('phy_init', 1, 0x01, 0xf000, 0x1000),
  ];
  let offset = 0x10000;
  if (factory) {
    entries.push(part('factory', 0, 0x00, offset, APP_PARTITION_SIZE));
    offset += APP_PARTITION_SIZE;
  }
  for (let slot = 0; slot < otaSlots; slot++) {
    entries.push(part(`ota_${slot}`, 0, 0x10 + slot, offset, APP_PARTITION_SIZE));
    offset += APP_PARTITION_SIZE;
  }
  if (test) entries.push(part('test', 0, 0x20, offset, APP_PARTITION_SIZE));
  return entries;
}

export function appImage(
  version: string,
  options: { secureVersion?: number; seed?: number; chip?: number } = {},
): Uint8Array {
  return buildEsp32Image({
    size: IMAGE_SIZE,
    version,
    projectName: 'ota-rig',
    secureVersion: options.secureVersion ?? 0,
    seed: options.seed ?? hashVersion(version),
    ...(options.chip === undefined ? {} : { chip: options.chip }),
  });
}

function hashVersion(version: string): number {
  let hash = 7;
  for (const char of version) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0;
  return hash;
}

export class Esp32Rig {
  readonly flash: NorFlash;
  readonly table: PartitionTable;
  readonly chip: Esp32ChipOptions;
  readonly consoleLog: string[] = [];

  constructor(
    options: {
      layout?: { factory?: boolean; otaSlots?: number; test?: boolean };
      chip?: Esp32ChipOptions;
      seed?: number;
      images?: Record<string, Uint8Array>;
      /** Start from this flash content (a snapshot of another rig) instead of flashing table and images. */
      initial?: Uint8Array;
    } = {},
  ) {
    this.chip = { efuse: new SecureVersionEfuse(), ...options.chip };
    if (options.initial) {
      this.flash = new NorFlash({
        size: options.initial.length,
        seed: options.seed ?? 1,
        initial: options.initial,
      });
      this.table = parsePartitionTable(this.flash.read(PARTITION_TABLE_OFFSET, 0xc00));
      return;
    }
    this.flash = new NorFlash({ size: 0x100000, seed: options.seed ?? 1 });
    const entries = rigPartitions(options.layout);
    this.flash.program(PARTITION_TABLE_OFFSET, generatePartitionTable(entries));
    this.table = parsePartitionTable(this.flash.read(PARTITION_TABLE_OFFSET, 0xc00));
    const images =
      options.images ??
      (this.partition('factory') ? { factory: appImage('factory') } : { ota_0: appImage('v0') });
    for (const [label, image] of Object.entries(images)) this.flashImage(label, image);
  }

  partition(label: string): PartitionEntry | undefined {
    return this.table.entries.find((entry) => entry.label === label);
  }

  mustPartition(label: string): PartitionEntry {
    const found = this.partition(label);
    if (!found) throw new Error(`the rig has no partition '${label}'`);
    return found;
  }

  /** What a serial flasher does: erase the partition and write the image at its start. */
  flashImage(label: string, image: Uint8Array): void {
    const target = this.mustPartition(label);
    this.flash.eraseRange(target.offset, target.size);
    this.flash.program(target.offset, image);
  }

  boot(resetReason: Esp32ResetReason = 'POWERON_RESET'): Esp32BootResult {
    const result = bootEsp32({ flash: this.flash, chip: this.chip, resetReason });
    this.consoleLog.push(...result.log);
    // The rig's callers cut power around a whole step and learn of the cut by this error.
    if (!result.booted && result.powerLost) throw new FlashPowerLostError(result.reason);
    return result;
  }

  /** Boots and fails the test when nothing boots. */
  bootApp(resetReason: Esp32ResetReason = 'POWERON_RESET'): Extract<Esp32BootResult, { booted: true }> {
    const result = this.boot(resetReason);
    if (!result.booted) throw new Error(`boot failed: ${result.reason}\n${result.log.join('\n')}`);
    return result;
  }

  /** The app's esp_ota_ops for the boot that just ran. */
  ops(boot: Extract<Esp32BootResult, { booted: true }>, log?: string[]): EspOtaOps {
    return new EspOtaOps({
      flash: this.flash,
      table: boot.table,
      running: boot.partition,
      chip: this.chip,
      log: (line) => {
        this.consoleLog.push(line);
        log?.push(line);
      },
    });
  }

  /** `copy_current_app_to_next_part` of test_switch_ota.c: the whole running partition into the next slot, then set boot. */
  copyRunningAppToNextPartition(ops: EspOtaOps): PartitionEntry {
    const next = ops.getNextUpdatePartition();
    if (!next) throw new Error('no next update partition');
    const running = ops.getRunningPartition();
    const handle = ops.begin(next, OTA_SIZE_UNKNOWN);
    ops.write(handle, this.flash.read(running.offset, running.size));
    ops.end(handle);
    ops.setBootPartition(next);
    return next;
  }

  /** `erase_ota_data` of test_switch_ota.c. */
  eraseOtadata(): void {
    const otadata = this.mustPartition('otadata');
    this.flash.eraseRange(otadata.offset, 0x2000);
  }

  otadataEntries() {
    return readOtadata(this.flash, this.mustPartition('otadata'));
  }
}
