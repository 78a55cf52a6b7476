import { type Esp8266Image, parseEsp8266Image } from '../../../fixtures/esp8266-image/index.ts';
import {
  ACTION_COPY_RAW,
  ACTION_LOAD_APP,
  APP_START_OFFSET,
  type CoreVersion,
  decodeEbootCommand,
  type Esp8266Layout,
  FLASH_SECTOR_SIZE,
  type RtcUserMemory,
  roundUpToSector,
} from '../../esp8266-updater/index.ts';
import { FlashAddressError, FlashPowerLostError, type NorFlash } from '../../flash/index.ts';
import { gzipDeflateOffset, inflateLikeUzlib } from './gzip-stream.ts';

/** `rst cause` of the ROM banner: 0 unknown, 1 power-on, 2 reset pin, 3 software, 4 watchdog. */
export type Esp8266ResetCause = 0 | 1 | 2 | 3 | 4;

/** The defect name under which a device boots with `clearCommandBeforeCopy` (every ESP8266 firmware's catalog lists it). */
export const EBOOT_CLEARS_COMMAND_EARLY = 'eboot-clears-command-early';

export interface BootEsp8266Options {
  flash: NorFlash;
  rtc: RtcUserMemory;
  layout: Esp8266Layout;
  /** Defaults to 2 (reset pin), the value most boot logs show. */
  resetCause?: Esp8266ResetCause;
  /** The core whose eboot sits in sector 0. Defaults to '3.1.2'. */
  core?: CoreVersion;
  /**
   * A broken eboot (the `eboot-clears-command-early` defect): the command is cleared before the
   * copy, as eboot did before PR #6823 (core 2.6.3), so a power cut during the copy leaves a
   * half-copied app and nothing that would copy it again (reference/arduino-ota.md §4.7 step 5).
   */
  clearCommandBeforeCopy?: boolean;
}

export interface BootEsp8266Result {
  /** The app at 0x1000 loaded and is a complete, valid image. */
  booted: boolean;
  /** eboot ran a copy command to completion (cp:0). */
  copied: boolean;
  /** The app image that runs, parsed from flash at APP_START_OFFSET. */
  image?: Esp8266Image;
  /** The console at 74880 baud, one entry per line. */
  log: string[];
  /** copy_raw()'s result when a copy ran: 0 ok, 1 misaligned, 2 erase, 3 read, 4 write, 5 gzip header, 6 inflate. */
  copyResult?: number;
  /** The power failed during the boot (a cut armed on the flash fired); nothing after it ran. */
  powerLost: boolean;
  /** eboot ended with SWRST (a failed copy or load): the chip resets by itself. */
  softReset: boolean;
  /** Why nothing runs, when booted is false and the power did not fail. */
  failure?: 'rom-no-bootloader' | 'load-error' | 'crashed';
}

const ROM_BANNER_DATE = 'Jan  8 2013';
const SECTION_HEADER_SIZE = 8;
const IMAGE_HEADER_SIZE = 8;
const VERSION_OFFSET = APP_START_OFFSET + IMAGE_HEADER_SIZE + SECTION_HEADER_SIZE;

class CopyFailure extends Error {
  constructor(readonly result: number) {
    super(`copy_raw returned ${result}`);
  }
}

/**
 * One ESP8266 boot: the ROM banner, eboot (bootloaders/eboot/eboot.c main()) reading its command
 * from RTC user memory, copying a staged update over the app, clearing the command only after
 * the copy, then loading the app at 0x1000. Reads past the end of the chip fail as the ROM's
 * SPIRead does; an app that loads but is not a valid image counts as a crash.
 */
export function bootEsp8266(options: BootEsp8266Options): BootEsp8266Result {
  const { flash, rtc } = options;
  const core = options.core ?? '3.1.2';
  const log: string[] = [];
  const result: BootEsp8266Result = { booted: false, copied: false, log, powerLost: false, softReset: false };
  log.push(`ets ${ROM_BANNER_DATE},rst cause:${options.resetCause ?? 2}, boot mode:(3,6)`);
  if (options.resetCause === 4) log.push('wdt reset');

  let pending = '';
  const print = (text: string) => {
    const lines = (pending + text).split('\n');
    pending = lines.pop() ?? '';
    log.push(...lines);
  };
  const flushConsole = () => {
    if (pending !== '') log.push(pending);
    pending = '';
  };

  try {
    if (!romFindsBootloader(flash)) {
      result.failure = 'rom-no-bootloader';
      return result;
    }

    print(`v${readUint32(flash, VERSION_OFFSET).toString(16).padStart(8, '0')}\n`);

    const command = decodeEbootCommand(rtc.readEbootCommandBytes());
    const clearCommand = command !== undefined;
    let action = command?.action ?? ACTION_LOAD_APP;
    let loadAddress = 0;
    print(command !== undefined ? '@' : '~');

    let res = 9;
    if (clearCommand && options.clearCommandBeforeCopy) rtc.clearEbootCommand();
    if (action === ACTION_COPY_RAW && command !== undefined) {
      print('cp:');
      const [source = 0, destination = 0, size = 0] = command.args;
      res = copyRaw(flash, source, destination, size, core, print);
      result.copyResult = res;
      print(`${res}\n`);
      if (res === 0) {
        result.copied = true;
        action = ACTION_LOAD_APP;
        loadAddress = destination;
      }
    }

    // Only now: a reset during the copy finds the command again and restarts the copy.
    if (clearCommand && !options.clearCommandBeforeCopy) rtc.clearEbootCommand();

    if (action === ACTION_LOAD_APP) {
      print('ld\n');
      const load = loadApp(flash, loadAddress, core);
      if (load.error !== 0) {
        res = load.error;
        print(`e:${res}\n`);
        result.failure = 'load-error';
      } else if (load.image === undefined) {
        result.failure = 'crashed';
        return result;
      } else {
        result.booted = true;
        result.image = load.image;
        return result;
      }
    }
    if (res !== 0) result.softReset = true;
    return result;
  } catch (error) {
    if (error instanceof FlashPowerLostError) {
      result.powerLost = true;
      return result;
    }
    throw error;
  } finally {
    flushConsole();
  }
}

/** The ROM runs whatever valid image sits at 0; without one eboot never starts. */
function romFindsBootloader(flash: NorFlash): boolean {
  const sector = flash.read(0, Math.min(FLASH_SECTOR_SIZE, flash.size));
  const eboot = parseEsp8266Image(sector);
  return eboot.magic === 0xe9 && eboot.findings.length === 0;
}

function copyRaw(
  flash: NorFlash,
  sourceAddress: number,
  destinationAddress: number,
  size: number,
  core: CoreVersion,
  print: (text: string) => void,
): number {
  if (sourceAddress % FLASH_SECTOR_SIZE !== 0 || destinationAddress % FLASH_SECTOR_SIZE !== 0) return 1;
  try {
    let left = roundUpToSector(size);
    let inflated: { output: Uint8Array; damaged: boolean } | undefined;
    if (readByte(flash, sourceAddress) === 0x1f && readByte(flash, sourceAddress + 1) === 0x8b) {
      // ISIZE: the last 4 bytes of the staged size, whatever they are.
      left =
        readByte(flash, sourceAddress + size - 4) |
        (readByte(flash, sourceAddress + size - 3) << 8) |
        (readByte(flash, sourceAddress + size - 2) << 16) |
        ((readByte(flash, sourceAddress + size - 1) << 24) >>> 0);
      const staged = flash.read(sourceAddress, Math.min(size, flash.size - sourceAddress));
      const deflateOffset = gzipDeflateOffset(staged);
      if (deflateOffset === undefined) return 5;
      inflated = inflateLikeUzlib(staged.subarray(deflateOffset));
    }
    const skipsIdenticalBootloader = core !== '2.7.4';
    let sourceCursor = sourceAddress;
    let destinationCursor = destinationAddress;
    let outputCursor = 0;
    while (left > 0) {
      if (core === '2.7.4') eraseOrFail(flash, destinationCursor);
      let buffer: Uint8Array;
      if (inflated === undefined) {
        buffer = readOrFail(flash, sourceCursor, FLASH_SECTOR_SIZE, 3);
      } else {
        const toRead = Math.min(left, FLASH_SECTOR_SIZE);
        if (inflated.damaged && outputCursor + toRead > inflated.output.length) return 6;
        buffer = new Uint8Array(FLASH_SECTOR_SIZE).fill(0xff);
        buffer.set(inflated.output.subarray(outputCursor, outputCursor + toRead));
        outputCursor += toRead;
      }
      let skip = false;
      if (skipsIdenticalBootloader && destinationCursor === 0) {
        const current = readOrFail(flash, 0, FLASH_SECTOR_SIZE, 4);
        if (Buffer.compare(current, buffer) === 0) {
          print('B');
          skip = true;
        }
      }
      if (!skip) {
        if (core !== '2.7.4') eraseOrFail(flash, destinationCursor);
        try {
          flash.program(destinationCursor, buffer);
        } catch (error) {
          if (error instanceof FlashAddressError) return 4;
          throw error;
        }
      }
      sourceCursor += FLASH_SECTOR_SIZE;
      destinationCursor += FLASH_SECTOR_SIZE;
      left -= FLASH_SECTOR_SIZE;
    }
    return 0;
  } catch (error) {
    if (error instanceof CopyFailure) return error.result;
    throw error;
  }
}

function eraseOrFail(flash: NorFlash, offset: number): void {
  try {
    flash.eraseSector(offset);
  } catch (error) {
    if (error instanceof FlashAddressError) throw new CopyFailure(2);
    throw error;
  }
}

function readOrFail(flash: NorFlash, offset: number, length: number, failure: number): Uint8Array {
  try {
    return flash.read(offset, length);
  } catch (error) {
    if (error instanceof FlashAddressError) throw new CopyFailure(failure);
    throw error;
  }
}

/**
 * load_app_from_flash_raw(): walks the segment headers at flash_addr + 0x1000 and loads the ones
 * for IRAM, DRAM and peripherals, with no magic or checksum check of its own. A read past the
 * chip returns 1 (header), 2 (section header) or 3 (section data). When the walk succeeds eboot
 * jumps to the entry: the app runs if the image is valid, otherwise the model calls it a crash.
 */
function loadApp(
  flash: NorFlash,
  flashAddress: number,
  core: CoreVersion,
): { error: number; image?: Esp8266Image } {
  const appStart = flashAddress + APP_START_OFFSET;
  let position = appStart;
  if (position + IMAGE_HEADER_SIZE > flash.size) return { error: 1 };
  const header = flash.read(position, IMAGE_HEADER_SIZE);
  position += IMAGE_HEADER_SIZE;
  const iramEnd = core === '2.7.4' ? 0x4010_8000 : 0x4010_c000;
  for (let index = 0; index < header[1]!; index++) {
    if (position + SECTION_HEADER_SIZE > flash.size) return { error: 2 };
    const address = readUint32(flash, position);
    const length = readUint32(flash, position + 4);
    position += SECTION_HEADER_SIZE;
    const load =
      address < 0x4000_0000 || (address >= 0x4010_0000 && address < iramEnd) || address >= 0x6000_0000;
    if (load && position + length > flash.size) return { error: 3 };
    position += length;
  }
  const examined = flash.read(appStart, Math.min(flash.size, position + 16) - appStart);
  const image = parseEsp8266Image(examined);
  if (image.magic !== 0xe9 || image.findings.length > 0) return { error: 0 };
  return { error: 0, image };
}

function readByte(flash: NorFlash, address: number): number {
  if (address < 0 || address >= flash.size) return 0xff;
  return flash.read(address, 1)[0]!;
}

function readUint32(flash: NorFlash, address: number): number {
  const bytes = flash.read(address, 4);
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
}
