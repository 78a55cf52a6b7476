import { constants, createPublicKey, verify } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ESP32_ARDUINO_SIGNATURE_BLOCK, verifyEsp32Arduino } from '../../fixtures/signed-image/index.ts';
import { SectorBuffer, UpdateMd5, UpdateStatus } from '../arduino-update-core/index.ts';
import { EspError, type EspOtaOps } from '../esp32-ota-ops/index.ts';
import type { NorFlash } from '../flash/index.ts';
import { type PartitionEntry, type PartitionTable, PartitionType } from '../partition-table/index.ts';
import { Esp32UpdateError, esp32UpdateErrorText } from './update-error.ts';

/**
 * Library releases whose Update differs in a way a test can see (reference/arduino-ota.md §5):
 * '3.3.0' has U_SPIFFS = 100, honours the partition label and compares the MD5 target
 * case-sensitively; 'newest' (PR #11856) has U_FLASHFS = 100, U_SPIFFS = 101, U_FATFS = 102,
 * U_LITTLEFS = 103, ignores the label and lowercases the MD5 target.
 */
export type Esp32UpdateCore = '3.3.0' | 'newest';

export const U_FLASH = 0;
export const U_AUTH = 200;
export const UPDATE_SIZE_UNKNOWN = 0xffffffff;

/** The FS command numbers of a library release. */
export function updateCommands(core: Esp32UpdateCore): {
  U_FLASH: number;
  U_SPIFFS: number;
  U_FLASHFS?: number;
  U_FATFS?: number;
  U_LITTLEFS?: number;
  U_AUTH: number;
} {
  return core === '3.3.0'
    ? { U_FLASH, U_SPIFFS: 100, U_AUTH }
    : { U_FLASH, U_FLASHFS: 100, U_SPIFFS: 101, U_FATFS: 102, U_LITTLEFS: 103, U_AUTH };
}

/** SPI failures esp_partition_erase_range/write/read report; the NorFlash never fails by itself. */
export interface Esp32UpdateFaults {
  erase?(offset: number, length: number): boolean;
  write?(offset: number, length: number): boolean;
  read?(offset: number, length: number): boolean;
}

export interface Esp32UpdateOptions {
  flash: NorFlash;
  /** The boot's esp_ota_ops: next update partition and esp_ota_set_boot_partition. */
  ota: EspOtaOps;
  table: PartitionTable;
  /** Defaults to 'newest', the release reference §5 describes. */
  core?: Esp32UpdateCore;
  /**
   * `_cryptMode`: 'auto' (the default, U_AES_DECRYPT_AUTO) turns decryption on when an app does
   * not start with 0xE9 — with no key set that ends in DECRYPT (13) instead of MAGIC_BYTE (8), and
   * writeStream() skips its header check (§5.2, derived). 'none' is a build with it off.
   */
  cryptMode?: 'auto' | 'none';
  faults?: Esp32UpdateFaults;
  /** writeStream(): consecutive empty readBytes() before STREAM (6); 300 on a chip. */
  streamTimeoutReads?: number;
  /** writeStream(): the delay(100) after each empty read; real time by default. */
  streamRetryDelay?: (milliseconds: number) => Promise<void>;
  /** Awaited after each flash write inside writeStream(), so a timed flash is paced (ctx.pace). */
  pace?: () => Promise<void>;
  /** A build with UPDATE_SIGN and a verifier installed before every begin() (the fixed 3.3.x code). */
  signature?: Esp32UpdateSignature;
}

/**
 * `installSignature(new UpdaterRSAVerifier|UpdaterECDSAVerifier(pubkey, len, HASH_SHA256))`
 * (reference signed-images.md §2.4). `skips-check` is arduino-esp32 v3.3.7's shipped bug #12422:
 * begin() reset the signature size, so nothing was verified.
 */
export interface Esp32UpdateSignature {
  publicKeyPem: string;
  /**
   * `whole-block` is #12427 in the first Updater_Signing.cpp (@56c6ec8): mbedtls_pk_verify over
   * all 512 bytes as PKCS#1 v1.5, so no PSS or (zero-padded) DER ECDSA signature ever passes.
   */
  defect?: 'skips-check' | 'whole-block';
}

/** What writeStream() reads from: the part of Arduino's Stream the Updater uses. */
export interface Esp32StreamSource {
  /** The next byte without consuming it, or -1 when none is there. */
  peek(): number | Promise<number>;
  /** Up to `length` bytes; an empty result is a Stream::readBytes timeout. */
  readBytes(length: number): Uint8Array | Promise<Uint8Array>;
}

const SECTOR_SIZE = 4096;
const BLOCK_SIZE = 65536;
const IMAGE_MAGIC = 0xe9;
/** ENCRYPTED_BLOCK_SIZE: the head of the image kept in RAM until end(). */
const HELD_BACK_BYTES = 16;
const STREAM_TIMEOUT_READS = 300;
const STREAM_RETRY_DELAY_MS = 100;
const DATA_SUBTYPE_FAT = 0x81;
const DATA_SUBTYPE_SPIFFS = 0x82;
const DATA_SUBTYPE_LITTLEFS = 0x83;
/** FFat partitions begin with a wear-levelling sector the image does not cover. */
const FAT_PARTITION_OFFSET = 0x1000;

/**
 * arduino-esp32 `libraries/Update` (UpdateClass) on the emulated flash: it writes the partition
 * itself (esp_partition_erase_range/write, not esp_ota_write), holds the first 16 bytes of an app
 * back until end() so a partly written app cannot boot, and activates it with
 * esp_ota_set_boot_partition(). One object per boot, like the global `Update`.
 */
export class Esp32Update extends UpdateStatus {
  readonly core: Esp32UpdateCore;
  private readonly flash: NorFlash;
  private readonly ota: EspOtaOps;
  private readonly table: PartitionTable;
  private readonly faults: Esp32UpdateFaults;
  private readonly cryptAuto: boolean;
  private readonly streamTimeoutReads: number;
  private readonly streamRetryDelay: (milliseconds: number) => Promise<void>;
  private readonly pace: () => Promise<void>;
  private readonly commands: ReturnType<typeof updateCommands>;

  private buffer: SectorBuffer | undefined;
  private skipBuffer: Uint8Array | undefined;
  private partition: PartitionEntry | undefined;
  private partitionOffset = 0;
  private progressBytes = 0;
  private command = U_FLASH;
  private readonly md5 = new UpdateMd5();
  private readonly signature: Esp32UpdateSignature | undefined;
  /** The received bytes (as written to the RAM buffer), kept while a verifier is installed. */
  private received: Uint8Array[] | undefined;
  /** `_size` as begin() set it: the hash covers the bytes below `_size − 512` (§2.4 step 3). */
  private signedSize = 0;
  private progressCallback: ((progress: number, total: number) => void) | undefined;

  constructor(options: Esp32UpdateOptions) {
    super();
    this.flash = options.flash;
    this.ota = options.ota;
    this.table = options.table;
    this.core = options.core ?? 'newest';
    this.faults = options.faults ?? {};
    this.cryptAuto = (options.cryptMode ?? 'auto') === 'auto';
    this.streamTimeoutReads = options.streamTimeoutReads ?? STREAM_TIMEOUT_READS;
    this.streamRetryDelay = options.streamRetryDelay ?? ((ms) => sleep(ms));
    this.pace = options.pace ?? (async () => {});
    this.commands = updateCommands(this.core);
    this.signature = options.signature;
  }

  /** `Update.onProgress`: called with (0, size) before the first flash write and after each one. */
  onProgress(callback: (progress: number, total: number) => void): void {
    this.progressCallback = callback;
  }

  /**
   * `begin(size, command, ledPin, ledOn, label)`. Already running → false with no error code;
   * size 0 → SIZE; no partition → NO_PARTITION; unknown command → BAD_ARGUMENT; larger than the
   * partition → SIZE (not SPACE). `label` selects the FS partition on 3.3.0 and is ignored on newest.
   */
  begin(size: number, command: number = U_FLASH, label?: string): boolean {
    if (this.updateSize > 0) return false;
    this.reset();
    this.error = Esp32UpdateError.OK;
    this.md5.target = '';
    this.md5.restart();
    if (size === 0) {
      this.error = Esp32UpdateError.SIZE;
      return false;
    }
    const found = this.findPartition(command, this.core === '3.3.0' ? label : undefined);
    if (found === 'bad-command') {
      this.error = Esp32UpdateError.BAD_ARGUMENT;
      return false;
    }
    if (found === undefined) {
      this.error = Esp32UpdateError.NO_PARTITION;
      return false;
    }
    const [partition, partitionOffset] = found;
    let updateSize = size;
    if (size === UPDATE_SIZE_UNKNOWN) updateSize = partition.size;
    else if (size > partition.size) {
      this.error = Esp32UpdateError.SIZE;
      return false;
    }
    this.partition = partition;
    this.partitionOffset = partitionOffset;
    this.buffer = new SectorBuffer(SECTOR_SIZE);
    this.updateSize = updateSize;
    this.received = this.signature === undefined ? undefined : [];
    this.signedSize = updateSize;
    this.command = command;
    return true;
  }

  /** Exactly 32 characters or it is refused. */
  setMD5(expectedMd5: string): boolean {
    return this.md5.setTarget(expectedMd5, (md5) => (this.core === 'newest' ? md5.toLowerCase() : md5));
  }

  /** Buffers to 4096-byte sectors; returns the bytes taken (0 after an error). */
  write(data: Uint8Array): number {
    const buffer = this.buffer;
    if (this.hasError() || !this.isRunning() || buffer === undefined) return 0;
    // The C code compares with remaining(), which does not count bytes still in the buffer.
    if (data.length > this.remaining()) {
      this.abortWith(Esp32UpdateError.SPACE);
      return 0;
    }
    return buffer.fill(
      data,
      () => this.remaining(),
      () => this.writeBuffer(),
    );
  }

  /**
   * The HTTP path: checks the first byte (unless a crypt mode is on), then reads until the update
   * is complete; `streamTimeoutReads` empty reads in a row, each followed by delay(100), → STREAM.
   */
  async writeStream(source: Esp32StreamSource): Promise<number> {
    if (this.hasError() || !this.isRunning()) return 0;
    if (!this.cryptAuto && !this.verifyHeader(await source.peek())) {
      this.reset();
      return 0;
    }
    let written = 0;
    let timeoutFailures = 0;
    while (this.remaining() > 0) {
      const buffer = this.buffer;
      if (buffer === undefined) return written;
      const bytesToRead = Math.min(buffer.capacity - buffer.length, this.remaining());
      const chunk = (await source.readBytes(bytesToRead)).subarray(0, bytesToRead);
      if (chunk.length === 0) {
        timeoutFailures++;
        if (timeoutFailures >= this.streamTimeoutReads) {
          this.abortWith(Esp32UpdateError.STREAM);
          return written;
        }
        await this.streamRetryDelay(STREAM_RETRY_DELAY_MS);
      } else {
        timeoutFailures = 0;
      }
      buffer.append(chunk);
      if (buffer.length === this.remaining() || buffer.length === buffer.capacity) {
        if (!this.writeBuffer()) return written;
        await this.pace();
      }
      written += chunk.length;
    }
    return written;
  }

  /**
   * Checks and activates: not finished (and not evenIfRemaining) → ABORT; MD5 mismatch → MD5;
   * the held-back 16 bytes written and the magic re-read → READ on failure;
   * esp_ota_set_boot_partition() (which verifies the image) → ACTIVATE on failure.
   */
  end(evenIfRemaining = false): boolean {
    if (this.hasError() || this.updateSize === 0) return false;
    if (!this.isFinished() && !evenIfRemaining) {
      this.abortWith(Esp32UpdateError.ABORT);
      return false;
    }
    if (evenIfRemaining) {
      if ((this.buffer?.length ?? 0) > 0) this.writeBuffer();
      this.updateSize = this.progressBytes;
    }
    const md5Hex = this.md5.finish();
    if (this.md5.target.length > 0 && this.md5.target !== md5Hex) {
      this.abortWith(Esp32UpdateError.MD5);
      return false;
    }
    if (!this.signatureVerifies()) {
      this.abortWith(Esp32UpdateError.SIGN);
      return false;
    }
    return this.verifyEnd();
  }

  /** `Update.abort()`: discards the update with ABORT. */
  abort(): void {
    this.abortWith(Esp32UpdateError.ABORT);
  }

  /** True when no update runs and the other OTA slot holds something that starts with 0xE9. */
  canRollBack(): boolean {
    if (this.buffer !== undefined) return false;
    const other = this.ota.getNextUpdatePartition();
    return other !== undefined && this.partitionIsBootable(other, 0);
  }

  /** Points otadata at the other OTA slot; takes effect on the next boot. */
  rollBack(): boolean {
    if (this.buffer !== undefined) return false;
    const other = this.ota.getNextUpdatePartition();
    if (other === undefined || !this.partitionIsBootable(other, 0)) return false;
    try {
      this.ota.setBootPartition(other);
      return true;
    } catch (error) {
      if (error instanceof EspError) return false;
      throw error;
    }
  }

  errorString(): string {
    return esp32UpdateErrorText(this.error);
  }

  /** What printError(out) prints: `out.println(errorString)`, no `ERROR[n]` prefix. */
  printError(): string {
    return `${this.errorString()}\r\n`;
  }

  progress(): number {
    return this.progressBytes;
  }

  /** MD5 (hex) of the bytes flushed so far, or of the whole image after end(). */
  md5String(): string {
    return this.md5.hex();
  }

  /** The partition being written, for a status page or a test. */
  targetPartition(): PartitionEntry | undefined {
    return this.partition;
  }

  private findPartition(
    command: number,
    label: string | undefined,
  ): [PartitionEntry, number] | 'bad-command' | undefined {
    const commands = this.commands;
    if (command === commands.U_FLASH) {
      const next = this.ota.getNextUpdatePartition();
      const running = this.ota.getRunningPartition();
      if (next === undefined || next.offset === running.offset) return undefined;
      return [next, 0];
    }
    const data = (subtype: number, wanted?: string) =>
      this.table.entries.find(
        (entry) =>
          entry.type === PartitionType.data &&
          entry.subtype === subtype &&
          (wanted === undefined || entry.label === wanted),
      );
    const withOffset = (
      entry: PartitionEntry | undefined,
      offset: number,
    ): [PartitionEntry, number] | undefined => (entry === undefined ? undefined : [entry, offset]);
    if (command === commands.U_SPIFFS) {
      if (this.core === '3.3.0') {
        return (
          withOffset(data(DATA_SUBTYPE_SPIFFS, label), 0) ??
          withOffset(data(DATA_SUBTYPE_FAT), FAT_PARTITION_OFFSET)
        );
      }
      return withOffset(data(DATA_SUBTYPE_SPIFFS), 0);
    }
    if (command === commands.U_FLASHFS) {
      return (
        withOffset(data(DATA_SUBTYPE_SPIFFS), 0) ??
        withOffset(data(DATA_SUBTYPE_FAT), FAT_PARTITION_OFFSET) ??
        withOffset(data(DATA_SUBTYPE_LITTLEFS), 0)
      );
    }
    if (command === commands.U_FATFS) return withOffset(data(DATA_SUBTYPE_FAT), FAT_PARTITION_OFFSET);
    if (command === commands.U_LITTLEFS) return withOffset(data(DATA_SUBTYPE_LITTLEFS), 0);
    return 'bad-command';
  }

  private verifyHeader(firstByte: number): boolean {
    if (this.command === U_FLASH) {
      if ((firstByte & 0xff) !== IMAGE_MAGIC) {
        this.abortWith(Esp32UpdateError.MAGIC_BYTE);
        return false;
      }
      return true;
    }
    return true;
  }

  /** `_writeBuffer`: one sector (or the last part) to the partition. */
  private writeBuffer(): boolean {
    const buffer = this.buffer;
    const partition = this.partition;
    if (buffer === undefined || partition === undefined) return false;
    let skip = 0;
    if (this.progressBytes === 0 && this.command === U_FLASH) {
      if (buffer.bytes[0] !== IMAGE_MAGIC) {
        // No AES key can be set in this model, so an engaged decryption always fails.
        this.abortWith(this.cryptAuto ? Esp32UpdateError.DECRYPT : Esp32UpdateError.MAGIC_BYTE);
        return false;
      }
      skip = HELD_BACK_BYTES;
      this.skipBuffer = buffer.bytes.slice(0, skip);
    }
    if (this.progressBytes === 0) this.progressCallback?.(0, this.updateSize);
    const base = partition.offset + this.partitionOffset;
    const offset = base + this.progressBytes;
    const blockErase = this.updateSize - this.progressBytes >= BLOCK_SIZE && offset % BLOCK_SIZE === 0;
    const headSectors = base % BLOCK_SIZE !== 0 && offset < (Math.floor(base / BLOCK_SIZE) + 1) * BLOCK_SIZE;
    const tailSectors = offset >= Math.floor((base + this.updateSize) / BLOCK_SIZE) * BLOCK_SIZE;
    if (blockErase || headSectors || tailSectors) {
      const length = blockErase ? BLOCK_SIZE : SECTOR_SIZE;
      if (!this.eraseInPartition(offset, length)) {
        this.abortWith(Esp32UpdateError.ERASE);
        return false;
      }
    }
    const payload = buffer.bytes.subarray(skip, buffer.length);
    // Empty (all 0xFF) sectors are skipped on plain partitions: the erase already left them so.
    if ((partition.encrypted || hasData(payload)) && !this.writeInPartition(offset + skip, payload)) {
      this.abortWith(Esp32UpdateError.WRITE);
      return false;
    }
    this.md5.update(buffer.held());
    this.received?.push(buffer.held().slice());
    this.progressBytes += buffer.length;
    buffer.length = 0;
    this.progressCallback?.(this.progressBytes, this.updateSize);
    return true;
  }

  /**
   * end()'s check (§2.4 step 4): the hash covers the received bytes below `_size − 512`, with
   * `_size` as begin() set it (the partition size after UPDATE_SIZE_UNKNOWN, so such an update
   * never verifies, §2.4 step 7), and the 512-byte block is read at `progress − 512`.
   */
  private signatureVerifies(): boolean {
    const signature = this.signature;
    if (signature === undefined || signature.defect === 'skips-check' || this.command !== U_FLASH)
      return true;
    const received = Buffer.concat(this.received ?? []);
    if (received.length < ESP32_ARDUINO_SIGNATURE_BLOCK) return false;
    const hashedLength = Math.min(received.length, this.signedSize - ESP32_ARDUINO_SIGNATURE_BLOCK);
    const block = received.subarray(received.length - ESP32_ARDUINO_SIGNATURE_BLOCK);
    const file = new Uint8Array(hashedLength + ESP32_ARDUINO_SIGNATURE_BLOCK);
    file.set(received.subarray(0, hashedLength), 0);
    file.set(block, hashedLength);
    const key = createPublicKey(signature.publicKeyPem);
    if (signature.defect === 'whole-block') {
      try {
        return verify(
          'sha256',
          file.subarray(0, hashedLength),
          { key, padding: constants.RSA_PKCS1_PADDING },
          block,
        );
      } catch {
        return false;
      }
    }
    return verifyEsp32Arduino(file, key).valid;
  }

  private verifyEnd(): boolean {
    const partition = this.partition;
    if (partition === undefined) return false;
    if (this.command !== U_FLASH) {
      this.reset();
      return true;
    }
    const base = partition.offset + this.partitionOffset;
    const held = this.skipBuffer;
    if (
      held === undefined ||
      !this.writeInPartition(base, held) ||
      !this.partitionIsBootable(partition, this.partitionOffset)
    ) {
      this.abortWith(Esp32UpdateError.READ);
      return false;
    }
    try {
      this.ota.setBootPartition(partition);
    } catch (error) {
      if (!(error instanceof EspError)) throw error;
      this.abortWith(Esp32UpdateError.ACTIVATE);
      return false;
    }
    this.reset();
    return true;
  }

  private partitionIsBootable(partition: PartitionEntry, partitionOffset: number): boolean {
    const address = partition.offset + partitionOffset;
    if (this.faults.read && !this.faults.read(address, HELD_BACK_BYTES)) return false;
    return this.flash.read(address, HELD_BACK_BYTES)[0] === IMAGE_MAGIC;
  }

  private eraseInPartition(address: number, length: number): boolean {
    if (this.faults.erase && !this.faults.erase(address, length)) return false;
    this.flash.eraseRange(address, length);
    return true;
  }

  private writeInPartition(address: number, data: Uint8Array): boolean {
    if (this.faults.write && !this.faults.write(address, data.length)) return false;
    this.flash.program(address, data);
    return true;
  }

  /** `_abort(err)`: `_reset()` then the error. */
  private abortWith(code: number): void {
    this.reset();
    this.error = code;
  }

  private reset(): void {
    this.received = undefined;
    this.buffer = undefined;
    this.skipBuffer = undefined;
    this.progressBytes = 0;
    this.updateSize = 0;
    this.command = U_FLASH;
  }
}

function hasData(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0xff) return true;
  return false;
}
