import type { FirmwareContext } from '../../device/index.ts';
import { esp32UpdateFor, updateCommands } from '../../esp32-arduino-update/index.ts';
import { roundUpToSector } from '../../esp8266-updater/index.ts';
import { PartitionType } from '../../partition-table/index.ts';
import { WRITES_SKETCH_IN_PLACE } from '../esp8266-staging-defect.ts';
import { esp8266SignatureDefect } from '../signing-options.ts';

/** The part of the global `Update` object the update server calls. */
export interface UploadUpdate {
  write(data: Uint8Array): number;
  end(evenIfRemaining?: boolean): boolean;
  hasError(): boolean;
  /** printError()'s exact output, line ending included. */
  printError(): string;
}

/** What differs between ESP8266HTTPUpdateServer and the ESP32 HTTPUpdateServer (reference §2). */
export interface UploadPlatform {
  /** HTTP_UPLOAD_BUFLEN: the largest UPLOAD_FILE_WRITE chunk the WebServer hands over. */
  readonly uploadBufferLength: number;
  /** The OPTIONS handler and the two CORS headers (ESP8266 core ≥ 3.1.0 only). */
  readonly cors: boolean;
  readonly filesystemAccept: string;
  /**
   * Whether the WebServer waits for file data as long as the client stays connected. The ESP8266
   * core's `_uploadReadByte` loops on `!client.available() && client.connected()` with no clock
   * ([8266] libraries/ESP8266WebServer/src/Parsing-impl.h L336-344, at f946290); the ESP32 one
   * gives up after `client.getTimeout()` (libraries/WebServer/src/Parsing.cpp `_uploadReadByte`).
   */
  readonly waitsForFileDataForever: boolean;
  readonly update: UploadUpdate;
  /** `Update.begin(((ESP.getFreeSketchSpace() - 0x1000) & 0xFFFFF000), U_FLASH)`. */
  beginFirmware(): boolean;
  /** The filesystem begin of each platform (FS_end-FS_start, or SPIFFS.totalBytes()). */
  beginFilesystem(): boolean;
}

const SPIFFS_SUBTYPE = 0x82;

function maxSketchSpace(freeSketchSpace: number): number {
  return (freeSketchSpace - 0x1000) & 0xfffff000;
}

export function uploadPlatformFor(context: FirmwareContext): UploadPlatform {
  if (context.esp8266 !== undefined) {
    const esp8266 = context.esp8266;
    const update = esp8266.createUpdater({
      writeSketchInPlace: context.defects.has(WRITES_SKETCH_IN_PLACE.name),
      ...esp8266SignatureDefect(context.defects),
    });
    const layout = esp8266.layout;
    return {
      uploadBufferLength: 2048,
      // PR #6824 added them in 3.1.0.
      cors: esp8266.core === '3.1.2' || esp8266.core === 'head',
      filesystemAccept: '.bin,.bin.gz',
      waitsForFileDataForever: true,
      update,
      beginFirmware: () =>
        // ESP.getFreeSketchSpace(): from the end of the running sketch, rounded up, to FS_start.
        update.begin(maxSketchSpace(layout.fsStart - roundUpToSector(context.running.size)), 'flash'),
      beginFilesystem: () => update.begin(layout.fsEnd - layout.fsStart, 'fs'),
    };
  }
  const esp32 = context.esp32;
  if (esp32 === undefined) throw new RangeError('the device offers no platform services');
  const update = esp32UpdateFor(context);
  const commands = updateCommands(update.core);
  return {
    uploadBufferLength: 1436,
    cors: false,
    filesystemAccept: '.bin,.bin.gz,.image',
    waitsForFileDataForever: false,
    update,
    beginFirmware: () => {
      // ESP.getFreeSketchSpace() is the size of the next OTA slot (0 when there is none).
      const next = esp32.ota.getNextUpdatePartition();
      const free = next === undefined || next.offset === esp32.runningPartition.offset ? 0 : next.size;
      return update.begin(maxSketchSpace(free), commands.U_FLASH);
    },
    beginFilesystem: () => {
      // SPIFFS.totalBytes() is 0 when no SPIFFS partition is mounted: begin() then fails with SIZE.
      const spiffs = esp32.table.entries.find(
        (entry) => entry.type === PartitionType.data && entry.subtype === SPIFFS_SUBTYPE,
      );
      return update.begin(spiffs?.size ?? 0, commands.U_SPIFFS);
    },
  };
}
