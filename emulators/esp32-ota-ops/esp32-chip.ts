import {
  APP_DESC_IMAGE_OFFSET,
  APP_DESC_MAGIC,
  APP_DESC_SIZE,
  type AppDescriptor,
  decodeAppDescriptor,
  type Esp32Image,
} from '../../fixtures/esp32-image/index.ts';
import type { ImageFinding } from '../../fixtures/image-finding/index.ts';
import { analyzeImage } from '../../fixtures/validate/index.ts';
import type { NorFlash } from '../flash/index.ts';
import type { PartitionEntry } from '../partition-table/index.ts';
import type { SignedAppsOptions } from './app-signature.ts';
import { EspError } from './esp-error.ts';
import { SecureVersionEfuse } from './secure-version-efuse.ts';

/** The build configuration and fuses of one emulated ESP32: what its bootloader and app were built with. */
export interface Esp32ChipOptions {
  /** `CONFIG_IDF_FIRMWARE_CHIP_ID`; 0 (ESP32) by default. */
  chipId?: number;
  /** `CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE` (default off, as in ESP-IDF). */
  rollback?: boolean;
  /** `CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK`; needs `rollback`. */
  antiRollback?: boolean;
  /** The chip's SECURE_VERSION field. Pass the same object to every boot: fuses outlive resets. */
  efuse?: SecureVersionEfuse;
  /** v5.5+ invalidates the inactive otadata slot at esp_ota_begin (reference §3.5, §10). Default v5.5. */
  idfVersion?: 'v5.4' | 'v5.5';
  /** A signed-apps build: apps are verified at esp_ota_end and esp_ota_set_boot_partition. */
  signedApps?: SignedAppsOptions;
}

export interface Esp32Chip {
  readonly chipId: number;
  readonly rollback: boolean;
  readonly antiRollback: boolean;
  readonly efuse: SecureVersionEfuse;
  readonly idfVersion: 'v5.4' | 'v5.5';
  readonly signedApps?: SignedAppsOptions;
}

export function resolveEsp32Chip(options: Esp32ChipOptions = {}): Esp32Chip {
  const rollback = options.rollback ?? false;
  const antiRollback = options.antiRollback ?? false;
  if (antiRollback && !rollback) {
    throw new EspError(
      'ESP_ERR_INVALID_ARG',
      'antiRollback needs rollback: CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK depends on CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE',
    );
  }
  return {
    chipId: options.chipId ?? 0,
    rollback,
    antiRollback,
    efuse: options.efuse ?? new SecureVersionEfuse(),
    idfVersion: options.idfVersion ?? 'v5.5',
    ...(options.signedApps === undefined ? {} : { signedApps: options.signedApps }),
  };
}

export type ImageVerdict =
  | { valid: true; image: Esp32Image; bytes: Uint8Array }
  | { valid: false; finding: ImageFinding; image?: Esp32Image };

/**
 * `esp_image_verify` over a partition: the whole image check of reference §1 (magic, chip id,
 * segments, checksum, SHA-256, fit), stopping at the first problem as the chip does.
 * `minSecureVersion` adds the bootloader's load-time anti-rollback check.
 */
export function verifyPartitionImage(
  flash: NorFlash,
  partition: PartitionEntry,
  chip: Esp32Chip,
  minSecureVersion?: number,
): ImageVerdict {
  // Parsed in place: only the image's own bytes and its stored digest are copied out, so nothing
  // returned changes when the partition is written again.
  const bytes = flash.view(partition.offset, partition.size);
  const analysis = analyzeImage(bytes, {
    platform: 'esp32',
    expectedChipId: chip.chipId,
    partitionSize: partition.size,
    ...(minSecureVersion === undefined ? {} : { minSecureVersion }),
  });
  const image = analysis.esp32 && ownedImage(analysis.esp32);
  const first = [...analysis.findings].sort((a, b) => checkOrder(a) - checkOrder(b))[0];
  if (first !== undefined)
    return image ? { valid: false, finding: first, image } : { valid: false, finding: first };
  if (!image) throw new Error(`the validator accepted '${partition.label}' without parsing an ESP32 image`);
  return { valid: true, image, bytes: bytes.slice(0, image.imageLength) };
}

/** The parsed image with its stored digest copied out of the flash it was read from in place. */
function ownedImage(image: Esp32Image): Esp32Image {
  return image.sha256 === undefined
    ? image
    : { ...image, sha256: { ...image.sha256, stored: image.sha256.stored.slice() } };
}

/** The order `esp_image_verify` meets problems in: header, chip, segments, checksum, fit, hash, then the load-time secure version. */
const CHECK_ORDER: Partial<Record<ImageFinding['code'], number>> = {
  'bad-magic': 0,
  'bad-hash-appended': 1,
  'segment-count': 1,
  'chip-id-mismatch': 2,
  'chip-revision': 2,
  'segment-length': 3,
  truncated: 3,
  'app-desc-magic': 3,
  'checksum-mismatch': 4,
  oversize: 5,
  'sha256-mismatch': 6,
  'secure-version-too-low': 7,
};

function checkOrder(finding: ImageFinding): number {
  return CHECK_ORDER[finding.code] ?? 3;
}

/**
 * `esp_ota_get_partition_description` / `bootloader_common_get_partition_description`: the 256
 * descriptor bytes at image offset 0x20, or undefined when the magic word is not there.
 */
export function readAppDescriptor(flash: NorFlash, partition: PartitionEntry): AppDescriptor | undefined {
  const bytes = flash.read(partition.offset, APP_DESC_IMAGE_OFFSET + APP_DESC_SIZE);
  const descriptor = decodeAppDescriptor(bytes, APP_DESC_IMAGE_OFFSET);
  return descriptor.magic === APP_DESC_MAGIC ? descriptor : undefined;
}

/** The log tag ESP-IDF prints a verification finding under. */
export function findingTag(finding: ImageFinding): string {
  return finding.code === 'chip-id-mismatch' || finding.code === 'chip-revision' ? 'boot_comm' : 'esp_image';
}

/**
 * The line `esp_image` (or `boot_comm`) logs when verification stops at `finding`, in ESP-IDF's
 * wording where the reference records it (§1.3–1.5, §7.2), else the validator's own message.
 */
export function imageFindingLogMessage(
  finding: ImageFinding,
  partitionOffset: number,
  partitionSize: number,
): string {
  switch (finding.code) {
    case 'bad-magic':
      return `image at 0x${partitionOffset.toString(16)} has invalid magic byte (nothing flashed here?)`;
    case 'checksum-mismatch':
      return typeof finding.actual === 'number' && typeof finding.expected === 'number'
        ? `Checksum failed. Calculated 0x${finding.actual.toString(16)} read 0x${finding.expected.toString(16)}`
        : finding.message;
    case 'sha256-mismatch':
      return 'Image hash failed - image is corrupt';
    case 'oversize':
      return typeof finding.actual === 'number'
        ? `Image length ${finding.actual} doesn't fit in partition length ${partitionSize}`
        : finding.message;
    case 'chip-id-mismatch':
      return typeof finding.expected === 'number' && typeof finding.actual === 'number'
        ? `mismatch chip ID, expected ${finding.expected}, found ${finding.actual}`
        : finding.message;
    default:
      return finding.message;
  }
}
