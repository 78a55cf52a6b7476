import {
  decodeOtaEntry,
  isEntryValid,
  OTA_SELECT_ENTRY_SIZE,
  otaSeqCrc,
  otaSlotForSeq,
  selectActiveEntry,
  stateName,
} from '../../emulators/otadata/index.ts';
import {
  factoryPartition,
  otaAppPartitions,
  otadataPartition,
  PARTITION_TABLE_LENGTH,
  PARTITION_TABLE_OFFSET,
  type PartitionEntry,
  parsePartitionTable,
  subtypeName,
  typeName,
} from '../../emulators/partition-table/index.ts';
import { checksumOffsetAfter } from '../../fixtures/esp-checksum/index.ts';
import {
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  parseEsp32Image,
  SEGMENT_HEADER_SIZE,
} from '../../fixtures/esp32-image/index.ts';
import {
  readSketchDescriptor,
  SKETCH_DESCRIPTOR_LENGTH,
  SKETCH_DESCRIPTOR_OFFSET,
} from '../../fixtures/esp8266-sketch/index.ts';
import type { Platform } from '../../vocabulary/index.ts';

/** Reads `size` bytes of flash at `address` (a dump in memory, or READ_FLASH on a chip). */
export type FlashReader = (address: number, size: number) => Promise<Uint8Array>;

export interface OtadataCopy {
  /** 0 or 1: the copy at the otadata partition's first or second sector. */
  copy: 0 | 1;
  seq: number;
  state: number;
  stateName: string;
  crc: number;
  crcValid: boolean;
  /** `bootloader_common_ota_select_valid`: not erased, not invalid/aborted, CRC matches. */
  valid: boolean;
}

export interface AppSlotReport {
  label: string;
  offset: number;
  size: number;
  /** Undefined when the slot holds no image (erased, or no 0xE9 magic). */
  image?: {
    version: string;
    projectName: string;
    secureVersion: number;
    length: number;
    checksumValid: boolean | undefined;
    sha256Valid: boolean | undefined;
    findings: string[];
  };
  firstByte: number;
}

export interface FlashReport {
  platform: Platform;
  partitions?: { label: string; type: string; subtype: string; offset: number; size: number }[];
  partitionTableError?: string;
  otadata?: {
    offset: number;
    copies: [OtadataCopy, OtadataCopy];
    /** Which copy the bootloader trusts: the valid one with the larger seq, or none. */
    activeCopy: -1 | 0 | 1;
    /** The app partition the bootloader boots from these entries (before it checks the image). */
    bootSlot: string | undefined;
  };
  apps: AppSlotReport[];
  /** ESP8266: the sketch at 0x0 and its descriptor, when it has one. */
  sketch?: { appAtOffset: number; version?: string; projectName?: string; firstByte: number };
}

/**
 * Explains why a board boots what it boots, from its flash: the partition table, both otadata
 * copies (seq, state, CRC, which one is active, which slot that selects: reference/esp-idf.md §3)
 * and the app image in each slot (version, checksum and SHA-256 verdicts).
 */
export async function decodeFlash(read: FlashReader, platform: Platform): Promise<FlashReport> {
  if (platform === 'esp8266') {
    const head = await read(0, SKETCH_DESCRIPTOR_OFFSET + SKETCH_DESCRIPTOR_LENGTH);
    const descriptor = readSketchDescriptor(head);
    return {
      platform,
      apps: [],
      sketch: {
        appAtOffset: 0x1000,
        firstByte: head[0]!,
        ...(descriptor ? { version: descriptor.version, projectName: descriptor.projectName } : {}),
      },
    };
  }
  const tableBytes = await read(PARTITION_TABLE_OFFSET, PARTITION_TABLE_LENGTH);
  let entries: PartitionEntry[];
  try {
    entries = parsePartitionTable(tableBytes, { verifyMd5: false }).entries;
  } catch (error) {
    return { platform, partitionTableError: (error as Error).message, apps: [] };
  }
  const report: FlashReport = {
    platform,
    partitions: entries.map((entry) => ({
      label: entry.label,
      type: typeName(entry.type),
      subtype: subtypeName(entry.type, entry.subtype),
      offset: entry.offset,
      size: entry.size,
    })),
    apps: [],
  };
  const otaApps = otaAppPartitions(entries);
  const otadata = otadataPartition(entries);
  if (otadata) {
    const bytes = await read(otadata.offset, 2 * 0x1000);
    const copies = [0, 1].map((copy): OtadataCopy => {
      const entry = decodeOtaEntry(bytes.subarray(copy * 0x1000, copy * 0x1000 + OTA_SELECT_ENTRY_SIZE));
      return {
        copy: copy as 0 | 1,
        seq: entry.seq,
        state: entry.state,
        stateName: stateName(entry.state),
        crc: entry.crc,
        crcValid: entry.crc === otaSeqCrc(entry.seq),
        valid: isEntryValid(entry),
      };
    }) as [OtadataCopy, OtadataCopy];
    const activeCopy = selectActiveEntry(copies);
    const factory = factoryPartition(entries);
    const bootSlot =
      activeCopy === -1 || otaApps.length === 0
        ? (factory ?? otaApps[0])?.label
        : otaApps[otaSlotForSeq(copies[activeCopy].seq, otaApps.length)]?.label;
    report.otadata = { offset: otadata.offset, copies, activeCopy, bootSlot };
  }
  for (const entry of entries.filter((candidate) => candidate.type === 0x00)) {
    report.apps.push(await readAppSlot(read, entry));
  }
  return report;
}

/** Walks the segment headers one read at a time, then reads the image once it knows its length. */
async function readAppSlot(read: FlashReader, slot: PartitionEntry): Promise<AppSlotReport> {
  const base = { label: slot.label, offset: slot.offset, size: slot.size };
  const header = await read(slot.offset, IMAGE_HEADER_SIZE);
  if (header[0] !== IMAGE_MAGIC) return { ...base, firstByte: header[0]! };
  let position = IMAGE_HEADER_SIZE;
  for (let segment = 0; segment < header[1]!; segment++) {
    if (position + SEGMENT_HEADER_SIZE > slot.size) break;
    const segmentHeader = await read(slot.offset + position, SEGMENT_HEADER_SIZE);
    const length = new DataView(segmentHeader.buffer, segmentHeader.byteOffset, 8).getUint32(4, true);
    position += SEGMENT_HEADER_SIZE + length;
    if (position > slot.size) break;
  }
  let length = Math.min(slot.size, checksumOffsetAfter(position) + 1 + (header[0x17] === 1 ? 32 : 0));
  length = Math.max(length, IMAGE_HEADER_SIZE);
  const image = parseEsp32Image(await read(slot.offset, length));
  return {
    ...base,
    firstByte: header[0]!,
    image: {
      version: image.appDescriptor?.version ?? '',
      projectName: image.appDescriptor?.projectName ?? '',
      secureVersion: image.appDescriptor?.secureVersion ?? 0,
      length: image.imageLength,
      checksumValid: image.checksum?.valid,
      sha256Valid: image.sha256?.valid,
      findings: image.findings.map((finding) => finding.message),
    },
  };
}

/** The report as a person reads it. */
export function formatFlashReport(report: FlashReport): string {
  const hex = (value: number) => `0x${value.toString(16)}`;
  const lines: string[] = [];
  if (report.sketch) {
    lines.push(
      `sketch at 0x0: ${report.sketch.firstByte === IMAGE_MAGIC ? 'eboot + app at 0x1000' : `no image (first byte ${hex(report.sketch.firstByte)})`}` +
        (report.sketch.version === undefined
          ? ''
          : `, version ${report.sketch.version} (${report.sketch.projectName})`),
    );
    return lines.join('\n');
  }
  if (report.partitionTableError) return `partition table at 0x8000: ${report.partitionTableError}`;
  lines.push('partition table (0x8000):');
  for (const p of report.partitions ?? [])
    lines.push(
      `  ${p.label.padEnd(10)} ${p.type.padEnd(5)} ${p.subtype.padEnd(9)} ${hex(p.offset).padStart(9)} ${hex(p.size).padStart(9)}`,
    );
  if (report.otadata) {
    lines.push(`otadata (${hex(report.otadata.offset)}):`);
    for (const copy of report.otadata.copies)
      lines.push(
        `  copy ${copy.copy}: seq ${copy.seq === 0xffffffff ? 'erased' : copy.seq}, state ${copy.stateName}, crc ${hex(copy.crc)} ${copy.crcValid ? 'ok' : 'bad'}${copy.valid ? ' (valid)' : ''}`,
      );
    lines.push(
      `  active copy: ${report.otadata.activeCopy === -1 ? 'none' : report.otadata.activeCopy}; boots ${report.otadata.bootSlot ?? 'nothing'}`,
    );
  }
  for (const app of report.apps) {
    if (app.image === undefined) {
      lines.push(`${app.label} (${hex(app.offset)}): no image (first byte ${hex(app.firstByte)})`);
      continue;
    }
    const i = app.image;
    lines.push(
      `${app.label} (${hex(app.offset)}): ${i.projectName} ${i.version}, secure_version ${i.secureVersion}, ${i.length} bytes, checksum ${verdict(i.checksumValid)}, sha256 ${verdict(i.sha256Valid)}`,
    );
  }
  return lines.join('\n');
}

function verdict(value: boolean | undefined): string {
  return value === undefined ? 'absent' : value ? 'valid' : 'INVALID';
}
