import { SectorBuffer, UpdateMd5, UpdateStatus } from '../arduino-update-core/index.ts';
import { FlashAddressError, type NorFlash } from '../flash/index.ts';
import { ACTION_COPY_RAW, encodeEbootCommand } from './eboot-command.ts';
import {
  type Esp8266Layout,
  FLASH_SECTOR_SIZE,
  magicFlashChipMode,
  magicFlashChipSize,
  roundUpToSector,
} from './esp8266-layout.ts';
import type { RtcUserMemory } from './rtc-user-memory.ts';
import { RsaSigningVerifier, type VerifierOptions } from './signature-verifier.ts';
import {
  type CoreVersion,
  type ErrorContext,
  errorText,
  formatPrintError,
  UpdateError,
} from './update-error.ts';

/** U_FLASH and U_FS of Updater.h; any other number is an unknown command. */
export const U_FLASH = 0;
export const U_FS = 100;
export type UpdateCommand = 'flash' | 'fs' | number;

/**
 * SPI failures the real ESP.flashEraseSector/flashWrite/flashRead report by returning false.
 * The NorFlash model never fails on its own, so tests and defects inject them here.
 */
export interface FlashFaults {
  erase?(offset: number): boolean;
  write?(offset: number, length: number): boolean;
  read?(offset: number, length: number): boolean;
}

export interface Esp8266UpdaterOptions {
  flash: NorFlash;
  layout: Esp8266Layout;
  rtc: RtcUserMemory;
  /** Defaults to '3.1.2', the latest release. */
  core?: CoreVersion;
  /** A signing build: MD5 is neither computed nor checked, the trailer is verified instead. */
  verifier?: VerifierOptions;
  /** (GPI >> 16) & 0xF: 3 after a normal flash boot; 1 after a serial download without reset. */
  bootMode?: number;
  /** Built with -DATOMIC_FS_UPDATE: FS images are staged and copied by eboot like apps. */
  atomicFsUpdate?: boolean;
  /** ESP.getFreeHeap(): above 8192 the write buffer is 4096 bytes, else 256. */
  freeHeap?: number;
  faults?: FlashFaults;
  /**
   * A broken updater, for defect catalogs: a sketch is written straight over the running one at
   * 0x0 instead of being staged below the filesystem for eboot to copy (reference arduino-ota.md
   * §4.7: staging is what leaves the running app untouched until the image is complete). A power
   * cut during the write then leaves half an image where the sketch was.
   */
  writeSketchInPlace?: boolean;
  /** A broken signing build, for defect catalogs (see SignatureDefect). */
  signatureDefect?: SignatureDefect;
}

/**
 * How a signing build can get `end()` wrong:
 * - `skips-check`: the verifier never runs, so anything is installed (arduino-esp32 v3.3.7 did
 *   this after `begin()` reset the signature size, issue #12422, reference signed-images.md §2.1);
 * - `ignores-length-field`: the signature is taken from a fixed place (image end − modulus − 4)
 *   instead of where the length word says, so a wrong length word passes;
 * - `hashes-trailer`: the SHA-256 covers the signature and length word too, so no correct image
 *   ever verifies (the 2.7.x size bug's cousin);
 * - `checks-md5`: MD5 is still accumulated and checked under a verifier (the real Updater skips it,
 *   Updater.cpp L194‑196, L430‑432; §1.6).
 */
export type SignatureDefect = 'skips-check' | 'ignores-length-field' | 'hashes-trailer' | 'checks-md5';

/** A source for writeStream(): the subset of Arduino's Stream the Updater uses. */
export interface Esp8266StreamSource {
  /** The next byte without consuming it, or -1 when none has arrived. */
  peek(): number;
  /** Up to `length` bytes; an empty result means Stream::readBytes timed out. */
  readBytes(length: number): Uint8Array;
  /** Stream::setTimeout (default 1000 ms): how long each empty readBytes() took. */
  readonly timeoutMs?: number;
}

/** The core aborted (a failed plain `new`) where newer cores report an error code instead. */
export class Esp8266CoreAbortError extends Error {
  readonly code = 'ESP8266_CORE_ABORT';
  override readonly name = 'Esp8266CoreAbortError';
}

const GZIP_FIRST_BYTE = 0x1f;
const GZIP_SECOND_BYTE = 0x8b;
const IMAGE_MAGIC = 0xe9;
const FLASH_MODE_OFFSET = 2;
const SIGNATURE_LENGTH_BYTES = 4;
const HASH_READ_CHUNK = 128;
const STREAM_RETRY_DELAY_MS = 100;

/**
 * cores/esp8266/Updater.cpp as a model: stages an update in the flash below the filesystem (or
 * writes an FS image in place), checks it at end() and leaves eboot a copy command in RTC memory.
 * Behaviour follows the chosen core release; power cuts surface as the flash's FlashPowerLostError.
 */
export class Esp8266Updater extends UpdateStatus {
  readonly core: CoreVersion;
  private readonly flash: NorFlash;
  private readonly layout: Esp8266Layout;
  private readonly rtc: RtcUserMemory;
  private readonly verifier: RsaSigningVerifier | undefined;
  private readonly bootMode: number;
  private readonly atomicFsUpdate: boolean;
  private readonly freeHeap: number;
  private readonly faults: FlashFaults;
  private readonly writeSketchInPlace: boolean;

  private buffer: SectorBuffer | undefined;
  private startAddress = 0;
  private currentAddress = 0;
  private command: number = U_FLASH;
  private readonly md5 = new UpdateMd5();
  private readonly signatureDefect: SignatureDefect | undefined;

  constructor(options: Esp8266UpdaterOptions) {
    super();
    this.flash = options.flash;
    this.layout = options.layout;
    this.rtc = options.rtc;
    this.core = options.core ?? '3.1.2';
    this.verifier = options.verifier === undefined ? undefined : new RsaSigningVerifier(options.verifier);
    this.bootMode = options.bootMode ?? 3;
    this.atomicFsUpdate = options.atomicFsUpdate ?? false;
    this.freeHeap = options.freeHeap ?? 40_000;
    this.faults = options.faults ?? {};
    this.writeSketchInPlace = options.writeSketchInPlace ?? false;
    this.signatureDefect = options.signatureDefect;
  }

  begin(size: number, command: UpdateCommand = 'flash'): boolean {
    if (this.updateSize > 0) {
      // 3.1.2 and older refuse silently; HEAD (PR #9104) records the reason.
      if (this.core === 'head') this.setError(UpdateError.RUNNING_ALREADY);
      return false;
    }
    // Boot mode 1 (UART download) cannot reset into the new sketch afterwards.
    if (this.bootMode === 1) {
      this.setError(UpdateError.BOOTSTRAP);
      return false;
    }
    if (size === 0) {
      this.setError(UpdateError.SIZE);
      return false;
    }
    if (!(this.flash.size >= this.layout.flashSize)) {
      this.setError(UpdateError.FLASH_CONFIG);
      return false;
    }

    this.reset();
    this.error = UpdateError.OK;
    if (this.core !== '2.7.4') {
      // 2.7.4 kept the previous target MD5, so a stale setMD5() applied to the next update too.
      this.md5.target = '';
    }
    this.md5.restart();

    const commandNumber = command === 'flash' ? U_FLASH : command === 'fs' ? U_FS : command;
    const currentSketchSize = roundUpToSector(this.layout.sketchSize);
    const roundedSize = roundUpToSector(size);
    const stagingBelowFs = (): number =>
      this.layout.fsStart > roundedSize ? this.layout.fsStart - roundedSize : 0;

    let updateStartAddress: number;
    if (commandNumber === U_FLASH && this.writeSketchInPlace) {
      updateStartAddress = 0;
      if (roundedSize > this.layout.fsStart) {
        this.setError(UpdateError.SPACE);
        return false;
      }
    } else if (commandNumber === U_FLASH) {
      updateStartAddress = stagingBelowFs();
      if (updateStartAddress < currentSketchSize) {
        this.setError(UpdateError.SPACE);
        return false;
      }
    } else if (commandNumber === U_FS) {
      if (this.layout.fsStart + roundedSize > this.layout.fsEnd) {
        this.setError(UpdateError.SPACE);
        return false;
      }
      if (this.atomicFsUpdate) {
        updateStartAddress = stagingBelowFs();
        if (updateStartAddress < currentSketchSize) {
          this.setError(UpdateError.SPACE);
          return false;
        }
      } else {
        updateStartAddress = this.layout.fsStart;
      }
    } else {
      if (this.core === 'head') this.setError(UpdateError.UNKNOWN_COMMAND);
      return false;
    }

    this.startAddress = updateStartAddress;
    this.currentAddress = updateStartAddress;
    this.updateSize = size;
    const bufferSize = this.freeHeap > 2 * FLASH_SECTOR_SIZE ? FLASH_SECTOR_SIZE : 256;
    if (this.freeHeap < bufferSize) {
      if (this.core === '2.7.4' || this.core === '3.0.2') {
        throw new Esp8266CoreAbortError(
          `core ${this.core} allocates the ${bufferSize}-byte update buffer with a plain new, which aborts with only ${this.freeHeap} bytes free`,
        );
      }
      this.setError(UpdateError.OOM);
      return false;
    }
    this.buffer = new SectorBuffer(bufferSize);
    this.command = commandNumber;
    return true;
  }

  /** Exactly 32 characters or it is refused; compared case-insensitively at end(). */
  setMD5(expectedMd5: string): boolean {
    return this.md5.setTarget(expectedMd5);
  }

  write(data: Uint8Array): number {
    const buffer = this.buffer;
    if (this.hasError() || !this.isRunning() || buffer === undefined) return 0;
    // Unlike ESP32's Update, the bytes still in the buffer count against the size.
    if (this.progress() + buffer.length + data.length > this.updateSize) {
      this.setError(UpdateError.SPACE);
      return 0;
    }
    return buffer.fill(
      data,
      () => this.remaining(),
      () => this.writeBuffer(),
    );
  }

  /**
   * The HTTP-update path: checks the first byte (0xE9 or 0x1F for an app) before anything is
   * written, then reads until the update is complete. A read that times out costs the stream's
   * timeout plus a 100 ms delay; `streamTimeoutMs` without data ends it with STREAM (2.7.4 gave
   * up after two empty reads in a row).
   */
  writeStream(source: Esp8266StreamSource, streamTimeoutMs = 60_000): number {
    if (this.hasError() || !this.isRunning()) return 0;
    if (!this.verifyHeader(source.peek())) {
      this.reset();
      return 0;
    }
    const readTimeoutMs = source.timeoutMs ?? 1000;
    let written = 0;
    let idleMs = 0;
    let emptyReads = 0;
    while (this.remaining() > 0) {
      const buffer = this.buffer;
      if (buffer === undefined) return written;
      // remaining() does not count buffered bytes; the core sizes the read the same way.
      const bytesToRead = Math.min(buffer.capacity - buffer.length, this.remaining());
      const chunk = source.readBytes(bytesToRead).subarray(0, bytesToRead);
      if (chunk.length === 0) {
        emptyReads++;
        idleMs += readTimeoutMs;
        const timedOut = this.core === '2.7.4' ? emptyReads >= 2 : idleMs >= streamTimeoutMs;
        if (timedOut) {
          this.setError(UpdateError.STREAM);
          return written;
        }
        idleMs += STREAM_RETRY_DELAY_MS;
        continue;
      }
      emptyReads = 0;
      idleMs = 0;
      buffer.append(chunk);
      if ((buffer.length === this.remaining() || buffer.length === buffer.capacity) && !this.writeBuffer()) {
        return written;
      }
      written += chunk.length;
    }
    return written;
  }

  end(evenIfRemaining = false): boolean {
    if (this.updateSize === 0) {
      this.reset();
      return false;
    }
    if (this.core !== '2.7.4' && this.progress() === 0) {
      this.setError(UpdateError.NO_DATA);
    }
    if (this.hasError() || (!this.isFinished() && !evenIfRemaining)) {
      this.reset();
      return false;
    }
    if (evenIfRemaining) {
      if ((this.buffer?.length ?? 0) > 0) this.writeBuffer();
      this.updateSize = this.progress();
    }

    if (this.verifier !== undefined && this.signatureDefect === 'checks-md5' && this.md5.target.length > 0) {
      if (this.md5.target.toLowerCase() !== this.md5.finish()) {
        this.setError(UpdateError.MD5);
        return false;
      }
    }
    if (this.verifier !== undefined && this.signatureDefect !== 'skips-check') {
      if (!this.verifySignature(this.verifier)) return false;
    } else if (this.verifier === undefined && this.md5.target.length > 0) {
      if (this.md5.target.toLowerCase() !== this.md5.finish()) {
        this.setError(UpdateError.MD5);
        return false;
      }
    }

    if (!this.verifyEnd()) {
      this.reset();
      return false;
    }

    if (this.command === U_FLASH && !this.writeSketchInPlace) {
      this.writeEbootCommand([this.startAddress, 0x00000, this.updateSize]);
    } else if (this.command === U_FS && this.atomicFsUpdate) {
      this.writeEbootCommand([this.startAddress, this.layout.fsStart, this.updateSize]);
    }
    this.reset();
    return true;
  }

  getErrorString(): string {
    return errorText(this.core, this.error, this.errorContext());
  }

  /** Exactly what printError(Serial) prints, line ending included. */
  printError(): string {
    return formatPrintError(this.core, this.error, this.errorContext());
  }

  progress(): number {
    return this.currentAddress - this.startAddress;
  }

  /** MD5 (hex, lower case) of the bytes received so far, as sent (before any flash-mode patch). */
  md5String(): string {
    return this.md5.hex();
  }

  /** Where the update is being written (0 when no update is running). */
  stagingAddress(): number {
    return this.startAddress;
  }

  private errorContext(): ErrorContext {
    return {
      targetMd5: this.md5.target,
      calculatedMd5: this.md5.finished(),
      realFlashSize: this.flash.size,
      sdkFlashSize: this.layout.flashSize,
    };
  }

  /** Every error discards the update in progress (_setError → _reset). */
  private setError(code: number): void {
    this.error = code;
    this.reset();
  }

  private reset(): void {
    this.buffer = undefined;
    this.startAddress = 0;
    this.currentAddress = 0;
    this.updateSize = 0;
    this.command = U_FLASH;
  }

  private writeBuffer(): boolean {
    const buffer = this.buffer;
    if (buffer === undefined) return false;
    let eraseResult = true;
    if (this.currentAddress % FLASH_SECTOR_SIZE === 0) {
      eraseResult = this.eraseSector(this.currentAddress);
    }

    // Like esptool's --flash_mode: the mode byte is patched in flash only, then restored in
    // RAM, so the MD5 still covers the bytes as sent. A gzip stream has no header to patch.
    let modifiedFlashMode = false;
    let bufferFlashMode = 0;
    if (
      this.currentAddress === this.startAddress &&
      buffer.bytes[0] !== GZIP_FIRST_BYTE &&
      this.command === U_FLASH
    ) {
      bufferFlashMode = buffer.bytes[FLASH_MODE_OFFSET] ?? 0;
      if (magicFlashChipMode(bufferFlashMode) !== this.layout.flashMode) {
        buffer.bytes[FLASH_MODE_OFFSET] = this.layout.flashMode;
        modifiedFlashMode = true;
      }
    }

    if (!eraseResult) {
      this.setError(UpdateError.ERASE);
      return false;
    }
    const writeResult = this.programFlash(this.currentAddress, buffer.held());
    if (modifiedFlashMode) buffer.bytes[FLASH_MODE_OFFSET] = bufferFlashMode;
    if (!writeResult) {
      this.setError(UpdateError.WRITE);
      return false;
    }
    if (this.verifier === undefined || this.signatureDefect === 'checks-md5') this.md5.update(buffer.held());
    this.currentAddress += buffer.length;
    buffer.length = 0;
    return true;
  }

  private verifyHeader(firstByte: number): boolean {
    if (this.command === U_FLASH) {
      if (firstByte !== IMAGE_MAGIC && firstByte !== GZIP_FIRST_BYTE) {
        this.setError(UpdateError.MAGIC_BYTE);
        return false;
      }
      return true;
    }
    return this.command === U_FS;
  }

  private verifyEnd(): boolean {
    if (this.command === U_FLASH) {
      const header = this.readFlash(this.startAddress, 4);
      if (header === undefined) {
        this.setError(UpdateError.READ);
        return false;
      }
      // A gzip stream hides the header, so neither magic nor size can be checked.
      if (header[0] === GZIP_FIRST_BYTE && header[1] === GZIP_SECOND_BYTE) return true;
      if (header[0] !== IMAGE_MAGIC) {
        this.setError(UpdateError.MAGIC_BYTE);
        return false;
      }
      const binFlashSize = magicFlashChipSize(((header[3] ?? 0) & 0xf0) >> 4);
      if (binFlashSize > this.flash.size) {
        this.setError(UpdateError.NEW_FLASH_CONFIG);
        return false;
      }
      return true;
    }
    return this.command === U_FS;
  }

  /**
   * The signed-image check of end(): the trailer is [signature][u32 LE length]; the SHA-256 is
   * computed from flash read back, so a flash-mode patch changes what is verified.
   */
  private verifySignature(verifier: RsaSigningVerifier): boolean {
    const expectedSigLen = verifier.length;
    const newCheck = this.core === '3.1.2' || this.core === 'head';
    let sigLen = 0;
    if (!newCheck || expectedSigLen > 0) {
      sigLen = this.readUint32(this.startAddress + this.updateSize - SIGNATURE_LENGTH_BYTES) ?? 0;
    }
    if (this.signatureDefect === 'ignores-length-field') sigLen = expectedSigLen;
    if (sigLen !== expectedSigLen) {
      this.setError(UpdateError.SIGN);
      return false;
    }
    let binSize = this.updateSize;
    if (newCheck) {
      if (binSize < sigLen + SIGNATURE_LENGTH_BYTES) {
        this.setError(UpdateError.SIGN);
        return false;
      }
      binSize -= sigLen + SIGNATURE_LENGTH_BYTES;
    } else {
      // ≤ 3.0.2 computed an int and never checked it for going negative.
      binSize = Math.max(0, binSize - sigLen - SIGNATURE_LENGTH_BYTES);
    }
    const hashed = this.signatureDefect === 'hashes-trailer' ? this.updateSize : binSize;
    const payload = new Uint8Array(hashed);
    for (let offset = 0; offset < hashed; offset += HASH_READ_CHUNK) {
      const length = Math.min(HASH_READ_CHUNK, hashed - offset);
      const chunk = this.readFlash(this.startAddress + offset, length);
      if (chunk !== undefined) payload.set(chunk, offset);
    }
    const signature = this.readFlash(this.startAddress + binSize, sigLen) ?? new Uint8Array(sigLen);
    if (!verifier.verify(payload, signature)) {
      this.setError(UpdateError.SIGN);
      return false;
    }
    // 2.7.4 left the trailer in the size, so eboot copied the signature too.
    if (this.core !== '2.7.4') this.updateSize = binSize;
    return true;
  }

  private writeEbootCommand(args: readonly number[]): void {
    this.rtc.writeEbootCommandBytes(encodeEbootCommand({ action: ACTION_COPY_RAW, args }));
  }

  private eraseSector(offset: number): boolean {
    if (this.faults.erase?.(offset) === true) return false;
    try {
      this.flash.eraseSector(offset);
      return true;
    } catch (error) {
      if (error instanceof FlashAddressError) return false;
      throw error;
    }
  }

  private programFlash(offset: number, data: Uint8Array): boolean {
    if (this.faults.write?.(offset, data.length) === true) return false;
    try {
      this.flash.program(offset, data);
      return true;
    } catch (error) {
      if (error instanceof FlashAddressError) return false;
      throw error;
    }
  }

  private readFlash(offset: number, length: number): Uint8Array | undefined {
    if (this.faults.read?.(offset, length) === true) return undefined;
    try {
      return this.flash.read(offset, length);
    } catch (error) {
      if (error instanceof FlashAddressError) return undefined;
      throw error;
    }
  }

  private readUint32(offset: number): number | undefined {
    const bytes = this.readFlash(offset, 4);
    if (bytes === undefined) return undefined;
    return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  }
}
