import type { FirmwareContext } from '../../device/index.ts';
import { esp32UpdateFor, updateCommands } from '../../esp32-arduino-update/index.ts';
import { magicFlashChipSize, roundUpToSector } from '../../esp8266-updater/index.ts';
import { PartitionType } from '../../partition-table/index.ts';
import { WRITES_SKETCH_IN_PLACE } from '../esp8266-staging-defect.ts';
import { type SocketReader, sleepUnless } from './socket-reader.ts';

export type UpdateTarget = 'sketch' | 'spiffs';

/** How runUpdate() reads the body: the stream timeouts of the platform's writeStream(). */
export interface StreamSettings {
  /** ESP8266 writeStream(): milliseconds without data before STREAM (6); 60000 on a chip. */
  streamTimeoutMs: number;
  /** ESP32 writeStream(): empty readBytes() in a row before STREAM (6); 300 on a chip. */
  streamTimeoutReads: number;
  /** ESP32: how long each readBytes() waits (Stream::setTimeout). */
  streamReadTimeoutMs: number;
  signal: AbortSignal;
  pace: () => Promise<void>;
}

/** What ESP8266httpUpdate and the ESP32 HTTPUpdate do differently around the global Update. */
export interface PullPlatform {
  readonly freeSketchSpace: number;
  /** Size of the filesystem target, or undefined when there is none (ESP32: no SPIFFS partition). */
  readonly filesystemSize: number | undefined;
  /** The peek check before runUpdate: an error code, or 0 when the image may be written. */
  checkImageHead(head: Uint8Array): number;
  /** How many bytes the head check needs (`peekBytes(4)` on ESP8266, `peek()` on ESP32). */
  readonly headBytes: number;
  /** 401 → -108 on ESP8266 ≥ 3.0.0; any other platform or core maps it to -104. */
  readonly unauthorizedCode: number;
  /**
   * Whether rebootOnUpdate restarts after this kind of update: always for a sketch; for a
   * filesystem only on an ESP8266 built with ATOMIC_FS_UPDATE, where eboot does the copy.
   */
  restartsAfter(target: UpdateTarget): boolean;
  begin(length: number, target: UpdateTarget): boolean;
  setMD5(md5: string): boolean;
  /** writeStream(): how many bytes went into the Update from the response body. */
  writeStream(reader: SocketReader, length: number, settings: StreamSettings): Promise<number>;
  end(): boolean;
  getError(): number;
  printError(): string;
}

const IMAGE_MAGIC = 0xe9;
const GZIP_MAGIC = 0x1f;
const SPIFFS_SUBTYPE = 0x82;
const BIN_VERIFY_HEADER_FAILED = -106;
const BIN_FOR_WRONG_FLASH = -107;

export function pullPlatformFor(
  context: FirmwareContext,
  settings: { streamTimeoutReads: number },
): PullPlatform {
  if (context.esp8266 !== undefined) return esp8266Platform(context);
  return esp32Platform(context, settings);
}

function esp8266Platform(context: FirmwareContext): PullPlatform {
  const esp8266 = context.esp8266!;
  const update = esp8266.createUpdater({
    writeSketchInPlace: context.defects.has(WRITES_SKETCH_IN_PLACE.name),
  });
  const layout = esp8266.layout;
  let firstByte = -1;
  let target: UpdateTarget = 'sketch';
  // A build with ATOMIC_FS_UPDATE stages an FS image below the FS instead of writing it in place.
  let stagedFilesystem = false;
  return {
    freeSketchSpace: layout.fsStart - roundUpToSector(context.running.size),
    filesystemSize: layout.fsEnd - layout.fsStart,
    headBytes: 4,
    unauthorizedCode: esp8266.core === '2.7.4' ? -104 : -108,
    restartsAfter: (chosen) => chosen === 'sketch' || stagedFilesystem,
    checkImageHead(head) {
      if (head.length < 4 || (head[0] !== IMAGE_MAGIC && head[0] !== GZIP_MAGIC))
        return BIN_VERIFY_HEADER_FAILED;
      if (head[0] === IMAGE_MAGIC && magicFlashChipSize((head[3] ?? 0) >> 4) > context.flash.size) {
        return BIN_FOR_WRONG_FLASH;
      }
      return 0;
    },
    begin: (length, chosen) => {
      target = chosen;
      const began = update.begin(length, chosen === 'spiffs' ? 'fs' : 'flash');
      stagedFilesystem = began && chosen === 'spiffs' && update.stagingAddress() !== layout.fsStart;
      return began;
    },
    setMD5: (md5) => update.setMD5(md5),
    async writeStream(reader, length, settings) {
      // writeStream() peeks the first byte itself; a refused one ends it with MAGIC_BYTE (10).
      await reader.waitFor(1, settings.streamTimeoutMs, settings.signal);
      firstByte = reader.available > 0 ? (reader.peek(1)[0] ?? -1) : -1;
      const deadStream = {
        peek: () => firstByte,
        readBytes: () => new Uint8Array(0),
        timeoutMs: settings.streamTimeoutMs,
      };
      if (target === 'sketch' && firstByte !== IMAGE_MAGIC && firstByte !== GZIP_MAGIC && update.size() > 0) {
        update.writeStream(deadStream, settings.streamTimeoutMs);
        if (update.hasError()) return 0;
      }
      let written = 0;
      while (written < length) {
        const chunk = await reader.read(
          Math.min(length - written, 4096),
          settings.streamTimeoutMs,
          settings.signal,
        );
        if (settings.signal.aborted || !context.imageBytesArrived(chunk.length)) return written;
        if (chunk.length === 0) {
          // Silence for the whole stream timeout: the Updater's own loop gives up with STREAM.
          update.writeStream(deadStream, settings.streamTimeoutMs);
          return written;
        }
        const taken = update.write(chunk);
        written += taken;
        if (taken !== chunk.length) return written;
        await settings.pace();
      }
      return written;
    },
    end: () => update.end(),
    getError: () => update.getError(),
    printError: () => update.printError(),
  };
}

function esp32Platform(context: FirmwareContext, settings: { streamTimeoutReads: number }): PullPlatform {
  const esp32 = context.esp32;
  if (esp32 === undefined) throw new RangeError('the device offers no platform services');
  const update = esp32UpdateFor(context, {
    streamTimeoutReads: settings.streamTimeoutReads,
    // delay(100) between empty reads, cut short when this boot ends so a dead loop does not outlive it.
    streamRetryDelay: (milliseconds) => sleepUnless(milliseconds, context.signal),
  });
  const commands = updateCommands(update.core);
  const next = esp32.ota.getNextUpdatePartition();
  const spiffs = esp32.table.entries.find(
    (entry) => entry.type === PartitionType.data && entry.subtype === SPIFFS_SUBTYPE,
  );
  return {
    freeSketchSpace: next === undefined || next.offset === esp32.runningPartition.offset ? 0 : next.size,
    filesystemSize: spiffs?.size,
    headBytes: 1,
    unauthorizedCode: -104,
    restartsAfter: (target) => target === 'sketch',
    // Only the first byte, no gzip; the flash-size check is commented out in the library.
    checkImageHead: (head) => (head[0] === IMAGE_MAGIC ? 0 : BIN_VERIFY_HEADER_FAILED),
    begin: (length, target) =>
      update.begin(length, target === 'spiffs' ? commands.U_SPIFFS : commands.U_FLASH),
    setMD5: (md5) => update.setMD5(md5),
    async writeStream(reader, length, stream) {
      let consumed = 0;
      return update.writeStream({
        peek: async () => {
          await reader.waitFor(1, stream.streamReadTimeoutMs, stream.signal);
          return reader.available > 0 ? (reader.peek(1)[0] ?? -1) : -1;
        },
        readBytes: async (count) => {
          if (stream.signal.aborted) return new Uint8Array(0);
          const chunk = await reader.read(
            Math.min(count, length - consumed),
            stream.streamReadTimeoutMs,
            stream.signal,
          );
          if (!context.imageBytesArrived(chunk.length)) return new Uint8Array(0);
          consumed += chunk.length;
          return chunk;
        },
      });
    },
    end: () => update.end(),
    getError: () => update.getError(),
    printError: () => update.printError(),
  };
}
