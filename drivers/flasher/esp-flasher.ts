import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ESPLoader, Transport } from 'esptool-js';
import type { Platform } from '../../vocabulary/index.ts';
import {
  FlasherChipMismatchError,
  FlasherPortError,
  FlasherProtocolError,
  FlasherSyncError,
  FlasherTimeoutError,
  FlasherVerifyError,
} from './errors.ts';
import { isNetworkPort, type ModemLineSink, WebSerialPort } from './web-serial-port.ts';

export interface FlasherOptions {
  /** Rig target name, for every message. */
  targetName: string;
  /** `/dev/ttyUSB0`, `socket://host:port` or `tcp://host:port`. */
  port: string;
  /** The chip family the rig says is there; another family is refused before anything is written. */
  platform: Platform;
  /** DTR/RTS for a port that cannot carry them (the emulator control plane behind a TCP UART). */
  lineSink?: ModemLineSink;
  baudRate?: number;
  /**
   * Reset-and-SYNC attempts (esptool-js: each is a ClassicReset, then up to 5 SYNCs of 100 ms,
   * reference §1.3-1.4, §3.2); esptool's default is 7, a bench rarely needs more than 3.
   */
  connectAttempts?: number;
  /** Upper bound for connecting (reset, SYNC, chip detection, stub upload). */
  connectTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface FlashFile {
  address: number;
  data: Uint8Array;
  /** What it is (`bootloader`, `partition-table`, `otadata`, `app`), for the report. */
  name: string;
}

export interface WrittenFile {
  name: string;
  address: number;
  size: number;
  md5: string;
  /** The MD5 the chip computed over the written range (SPI_FLASH_MD5). */
  verifiedMd5: string;
  /** The bytes read back (READ_FLASH) equal the file. */
  readBackEqual: boolean;
}

/**
 * esptool-js's Transport prints its read-loop notes ("readLoop exited", "Serial port done")
 * with console.log even when tracing is off; a CLI's stdout is not the place for them.
 */
class QuietTransport extends Transport {
  override trace(message: string): void {
    if (this.tracing) super.trace(message);
  }
}

const CHIP_NAMES: Record<Platform, string> = { esp32: 'ESP32', esp8266: 'ESP8266' };
const DEFAULT_BAUD = 115_200;
/** esptool's HardReset holds EN low this long (reference §1.3, [ET4] reset.py L145-165). */
const HARD_RESET_MS = 100;

/**
 * Espressif's own flasher, esptool-js (npm, the library behind Espressif's web flasher), driven
 * from Node through a Web-Serial-shaped port over node-serialport or TCP. It connects the way
 * esptool-js always does (ClassicReset, SYNC, chip detection by magic register, stub upload),
 * writes compressed with an MD5 check per file, reads back, and resets into the app with an
 * esptool-style HardReset on RTS, because esptool-js's own `after('hard_reset')` never asserts
 * RTS (T8, reference §1.4).
 */
export class EspFlasher {
  private constructor(
    private readonly options: FlasherOptions,
    private readonly port: WebSerialPort,
    private readonly transport: QuietTransport,
    private readonly loader: ESPLoader,
    readonly chipDescription: string,
  ) {}

  static async connect(options: FlasherOptions): Promise<EspFlasher> {
    const log = options.log ?? (() => {});
    const port = new WebSerialPort(options.port, options.lineSink ? { lineSink: options.lineSink } : {});
    const transport = new QuietTransport(port as never, false);
    const baudrate = options.baudRate ?? DEFAULT_BAUD;
    const loader = new ESPLoader({
      transport,
      baudrate,
      // Same as baudrate: no CHANGE_BAUDRATE and no port reopen (reference §7.3).
      romBaudrate: baudrate,
      terminal: {
        clean: () => {},
        writeLine: (line: string) => log(line),
        write: (text: string) => {
          if (text.trim() !== '') log(text.trimEnd());
        },
      },
    });
    // Without DTR/RTS nothing can reset the chip: it must already wait in download mode, as
    // esptool forces `--before no_reset` on socket:// (reference §8.1).
    const withLines = options.lineSink !== undefined || !isTcp(options.port);
    const mode = withLines ? 'default_reset' : 'no_reset';
    const attempts = options.connectAttempts ?? 3;
    const timeoutMs = options.connectTimeoutMs ?? 20_000;
    const where = `target ${options.targetName}: ${options.port}`;
    let description: string;
    try {
      description = await withDeadline(
        loader.main(mode),
        timeoutMs,
        () => new FlasherTimeoutError(`${where}: connecting did not finish within ${timeoutMs} ms`),
      );
    } catch (error) {
      const printed = printable(transport.peek());
      await transport.disconnect().catch(() => {});
      await port.close();
      if (error instanceof FlasherPortError || error instanceof FlasherTimeoutError) throw error;
      const message = (error as Error).message ?? String(error);
      if (/Failed to connect/.test(message)) {
        throw new FlasherSyncError(
          `${where}: the chip did not answer SYNC after ${attempts} ${withLines ? 'reset-and-sync' : 'sync'} attempts` +
            `${withLines ? '' : ' (no DTR/RTS on a raw TCP port: put the chip in download mode by hand, or give the rig a power "emulator-control" switch)'}` +
            `${printed === '' ? '; it printed nothing' : `; it printed: ${printed}`}`,
          { cause: error },
        );
      }
      if ((error as { code?: string }).code === 'FLASHER_PORT') throw error;
      throw new FlasherProtocolError(`${where}: ${message}`, { cause: error });
    }
    const flasher = new EspFlasher(options, port, transport, loader, description);
    const found = loader.chip.CHIP_NAME;
    if (found !== CHIP_NAMES[options.platform]) {
      await flasher.close();
      throw new FlasherChipMismatchError(
        `${where}: the chip is ${found} (${description}), but the rig says ${options.platform}; nothing was written`,
      );
    }
    return flasher;
  }

  get chipName(): string {
    return this.loader.chip.CHIP_NAME;
  }

  /**
   * Writes each file (FLASH_DEFL_*), has the chip MD5 it (SPI_FLASH_MD5: esptool-js fails on a
   * mismatch, "MD5 of file does not match data in flash!"), then reads it back (READ_FLASH).
   */
  async write(files: readonly FlashFile[], timeoutMs = 120_000): Promise<WrittenFile[]> {
    const where = `target ${this.options.targetName}: ${this.options.port}`;
    const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');
    const written: WrittenFile[] = [];
    for (const file of files) {
      let chipMd5 = '';
      const run = async () => {
        await this.loader.writeFlash({
          fileArray: [{ data: file.data, address: file.address }],
          // Flash images unchanged: esptool-js's header patch leaves a stale SHA-256 (T27).
          flashMode: 'keep',
          flashFreq: 'keep',
          flashSize: 'keep',
          eraseAll: false,
          compress: true,
          calculateMD5Hash: (image: Uint8Array) => {
            chipMd5 = md5(image);
            return chipMd5;
          },
        });
        return this.loader.readFlash(file.address, file.data.length);
      };
      let back: Uint8Array;
      try {
        back = await withDeadline(
          run(),
          timeoutMs,
          () =>
            new FlasherTimeoutError(`${where}: writing ${file.name} did not finish within ${timeoutMs} ms`),
        );
      } catch (error) {
        if (error instanceof FlasherTimeoutError) throw error;
        const message = (error as Error).message;
        if (/MD5 of file does not match/.test(message))
          throw new FlasherVerifyError(
            `${where}: ${file.name} at 0x${file.address.toString(16)}: ${message}`,
          );
        throw new FlasherProtocolError(`${where}: writing ${file.name}: ${message}`, { cause: error });
      }
      const equal = Buffer.from(back).equals(Buffer.from(file.data));
      if (!equal) {
        throw new FlasherVerifyError(
          `${where}: ${file.name} at 0x${file.address.toString(16)} read back differs from what was written`,
        );
      }
      written.push({
        name: file.name,
        address: file.address,
        size: file.data.length,
        md5: md5(file.data),
        verifiedMd5: chipMd5,
        readBackEqual: equal,
      });
    }
    return written;
  }

  /** READ_FLASH from the stub (reference §6.7). */
  async read(address: number, size: number, timeoutMs = 120_000): Promise<Uint8Array> {
    const where = `target ${this.options.targetName}: ${this.options.port}`;
    try {
      return await withDeadline(
        this.loader.readFlash(address, size),
        timeoutMs,
        () =>
          new FlasherTimeoutError(
            `${where}: reading 0x${size.toString(16)} bytes did not finish within ${timeoutMs} ms`,
          ),
      );
    } catch (error) {
      if (error instanceof FlasherTimeoutError) throw error;
      throw new FlasherProtocolError(`${where}: reading flash: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * Into the app: esptool's HardReset (RTS asserted 100 ms, DTR released so IO0 stays high)
   * where the lines reach the chip; otherwise FLASH_BEGIN(0, 0) + FLASH_END(0), "reboot",
   * which the ROM and the stub both honour (reference §1.5, §6.6).
   */
  async resetIntoApp(): Promise<void> {
    this.transport.flushInput();
    if (this.options.lineSink !== undefined || !isTcp(this.options.port)) {
      await this.transport.setSignals(false, true);
      await sleep(HARD_RESET_MS);
      await this.transport.setSignals(false, false);
      return;
    }
    await this.loader.flashBegin(0, 0);
    await this.loader.flashFinish(true);
  }

  /** What the chip printed since the last reset, as text (the boot log after resetIntoApp). */
  printed(): string {
    return Buffer.from(this.transport.peek()).toString('latin1');
  }

  async close(): Promise<void> {
    await this.transport.disconnect().catch(() => {});
    await this.port.close();
  }
}

function isTcp(port: string): boolean {
  return isNetworkPort(port);
}

function printable(bytes: Uint8Array): string {
  const text = Buffer.from(bytes)
    .toString('latin1')
    .replace(/[^\x20-\x7e\n]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

async function withDeadline<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(error()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
