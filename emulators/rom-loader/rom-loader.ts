import { createHash } from 'node:crypto';
import { inflateSync, constants as zlibConstants } from 'node:zlib';
import { xorChecksum } from '../../fixtures/esp-checksum/index.ts';
import type { NorFlash } from '../flash/index.ts';
import { type ChipPersonality, ChipRegisters } from './chip-registers.ts';
import { OP, ROM_ERROR, STUB_ERROR } from './opcodes.ts';
import { SlipDecoder, slipEncode } from './slip.ts';

export interface RomLoaderOptions {
  chip: ChipPersonality;
  flash: NorFlash;
  mac: Uint8Array;
  /** Bytes for the UART's TX (SLIP frames, already encoded). */
  transmit(bytes: Uint8Array): void;
  /** The loader hands over to the app: FLASH_END(0) / MEM_END reboot, RUN_USER_CODE. */
  runApp(): void;
  /** Every command as it arrives, for tests and the wire log. */
  onCommand?(op: number, payloadLength: number): void;
}

/** `stub` after a MEM_END with an entry point (the flasher stub the host uploaded now runs). */
export type LoaderPersonality = 'rom' | 'stub';

const FLASH_SECTOR = 4096;
/** The stub refuses blocks above this (0xC2, [STUB1] stub_flasher.c L281-292). */
const STUB_MAX_BLOCK = 0x4000;
/** ROM SYNC value bytes `07 07 12 20` (reference §2.6). */
const ROM_SYNC_VALUE = 0x20120707;
/** The stub's hello once it runs: `C0 4F 48 41 49 C0` (reference §5.1). */
const OHAI = Uint8Array.from([0x4f, 0x48, 0x41, 0x49]);

interface WriteSession {
  offset: number;
  blockSize: number;
  blocks: number;
  nextSeq: number;
  /** Compressed session: the zlib stream so far and how much of its output is already written. */
  compressed?: { chunks: Buffer[]; written: number; size: number };
}

interface ReadSession {
  offset: number;
  length: number;
  packetSize: number;
  maxInFlight: number;
  sent: number;
  acked: number;
  md5: ReturnType<typeof createHash>;
}

/**
 * The ESP32/ESP8266 ROM serial loader and, once the host has uploaded it, the flasher stub
 * (reference/esp-serial-flasher.md §10 "what an emulator must implement, in order"): SLIP frames
 * in, one response per command out (eight for SYNC), the ROM's 4-byte (ESP32) or 2-byte
 * (ESP8266) status, the stub's 2-byte one, and the flash model behind FLASH_* and READ_*.
 *
 * The stub upload is accepted and its bytes ignored (strategy B of §5.3): MEM_END with an entry
 * point answers, sends OHAI, and switches to the stub's protocol. That is what lets esptool-js,
 * which always runs the stub, and esptool with or without `--no-stub` talk to the same chip.
 */
export class RomLoader {
  private personalityValue: LoaderPersonality = 'rom';
  private readonly registers: ChipRegisters;
  private readonly decoder: SlipDecoder;
  private write: WriteSession | undefined;
  private read: ReadSession | undefined;
  /** ROM responses carry the last READ_REG value in `value` (T21, reference §2.6). */
  private staleValue = 0;
  private stopped = false;

  constructor(private readonly options: RomLoaderOptions) {
    this.registers = new ChipRegisters(options.chip, options.mac, options.flash.size);
    this.decoder = new SlipDecoder((frame) => this.onFrame(frame));
  }

  get personality(): LoaderPersonality {
    return this.personalityValue;
  }

  /** Bytes from the host (UART RX). */
  receive(bytes: Uint8Array): void {
    if (!this.stopped) this.decoder.push(bytes);
  }

  /** The chip left download mode: nothing more is answered. */
  stop(): void {
    this.stopped = true;
  }

  private get isStub(): boolean {
    return this.personalityValue === 'stub';
  }

  private onFrame(frame: Uint8Array): void {
    if (this.read !== undefined) {
      this.onReadAck(frame);
      return;
    }
    // A request is at least the 8-byte header with direction 0; anything else is ignored as the
    // ROM's command loop ignores it.
    if (frame.length < 8 || frame[0] !== 0x00) return;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const op = frame[1]!;
    const size = view.getUint16(2, true);
    const checksum = view.getUint32(4, true);
    const payload = frame.subarray(8);
    this.options.onCommand?.(op, payload.length);
    if (payload.length !== size) {
      this.fail(op, this.isStub ? STUB_ERROR.BAD_DATA_LEN : ROM_ERROR.INVALID_MESSAGE);
      return;
    }
    try {
      this.dispatch(op, payload, checksum);
    } catch (error) {
      // The flash lost power or an address was out of range: the command failed.
      this.fail(op, this.isStub ? STUB_ERROR.FAILED_SPI_OP : ROM_ERROR.FAILED);
      if ((error as { code?: string }).code === 'FLASH_POWER_LOST') this.stop();
    }
  }

  private dispatch(op: number, payload: Uint8Array, checksum: number): void {
    const words = (count: number) => readWords(payload, count);
    const chip = this.options.chip;
    const esp8266Rom = chip.platform === 'esp8266' && !this.isStub;
    switch (op) {
      case OP.SYNC:
        if (!isSyncPayload(payload)) {
          this.fail(op, ROM_ERROR.INVALID_MESSAGE);
          return;
        }
        // One SYNC, eight identical responses (T1, reference §3.2); the stub's value is 0 (T2).
        for (let i = 0; i < 8; i++) this.respond(op, new Uint8Array(0), this.isStub ? 0 : ROM_SYNC_VALUE);
        return;
      case OP.READ_REG: {
        if (payload.length !== 4) {
          this.fail(op, this.invalid());
          return;
        }
        const value = this.registers.read(words(1)[0]!);
        this.staleValue = value;
        this.respond(op, new Uint8Array(0), value);
        return;
      }
      case OP.WRITE_REG: {
        if (payload.length === 0 || payload.length % 16 !== 0) {
          this.fail(op, this.invalid());
          return;
        }
        const entries = readWords(payload, payload.length / 4);
        for (let i = 0; i < entries.length; i += 4) {
          this.registers.write(entries[i]!, entries[i + 1]!, entries[i + 2]!);
        }
        this.ok(op);
        return;
      }
      case OP.SPI_ATTACH:
        if (esp8266Rom) {
          this.unsupported(op);
          return;
        }
        // ROM: config + a reserved u32 (8 bytes); stub: 4 bytes (reference §3.1, §5.2). Both are
        // accepted from either: esptool and esp-serial-flasher pick by personality, and a
        // mismatch costs nothing on an emulated chip.
        if (payload.length !== 4 && payload.length !== 8) {
          this.fail(op, this.invalid());
          return;
        }
        this.ok(op);
        return;
      case OP.SPI_SET_PARAMS:
        if (esp8266Rom) {
          this.unsupported(op);
          return;
        }
        if (payload.length !== 24) {
          this.fail(op, this.invalid());
          return;
        }
        this.ok(op);
        return;
      case OP.CHANGE_BAUDRATE:
        if (esp8266Rom) {
          this.unsupported(op);
          return;
        }
        if (payload.length !== 8) {
          this.fail(op, this.invalid());
          return;
        }
        // Raw TCP and PTYs carry no baud rate: acknowledged, nothing changes (reference §8.1).
        this.ok(op);
        return;
      case OP.FLASH_BEGIN:
        this.flashBegin(op, payload, false);
        return;
      case OP.FLASH_DEFL_BEGIN:
        if (esp8266Rom) {
          this.unsupported(op);
          return;
        }
        this.flashBegin(op, payload, true);
        return;
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA:
        if (esp8266Rom && op === OP.FLASH_DEFL_DATA) {
          this.unsupported(op);
          return;
        }
        this.flashData(op, payload, checksum, op === OP.FLASH_DEFL_DATA);
        return;
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END: {
        if (esp8266Rom && op === OP.FLASH_DEFL_END) {
          this.unsupported(op);
          return;
        }
        if (payload.length !== 4) {
          this.fail(op, this.invalid());
          return;
        }
        this.write = undefined;
        this.ok(op);
        // 0 = reboot into the app, non-zero = stay in the loader (reference §1.5, §6.6).
        if (words(1)[0] === 0) this.leave();
        return;
      }
      case OP.MEM_BEGIN:
        if (payload.length !== 16) {
          this.fail(op, this.invalid());
          return;
        }
        this.ok(op);
        return;
      case OP.MEM_DATA: {
        if (payload.length < 16) {
          this.fail(op, this.invalid());
          return;
        }
        const [length] = words(1);
        const data = payload.subarray(16);
        if (length !== data.length) {
          this.fail(op, this.invalid());
          return;
        }
        if (xorChecksum(data, 0, data.length) !== (checksum & 0xff)) {
          this.fail(op, this.isStub ? STUB_ERROR.BAD_DATA_CHECKSUM : ROM_ERROR.BAD_CHECKSUM);
          return;
        }
        this.ok(op);
        return;
      }
      case OP.MEM_END: {
        if (payload.length !== 8) {
          this.fail(op, this.invalid());
          return;
        }
        const [flag, entry] = words(2);
        // The response first, then OHAI (T4, reference §5.1): esptool-js's memFinish waits for it.
        this.ok(op);
        if (flag === 0 && entry !== 0) {
          this.personalityValue = 'stub';
          this.options.transmit(slipEncode(OHAI));
        }
        return;
      }
      case OP.SPI_FLASH_MD5: {
        if (esp8266Rom) {
          this.unsupported(op);
          return;
        }
        if (payload.length !== 16) {
          this.fail(op, this.invalid());
          return;
        }
        const [address, size] = words(2);
        const digest = createHash('md5').update(this.options.flash.read(address!, size!)).digest();
        // ROM: 32 lowercase ASCII hex characters; stub: the 16 raw bytes (T18, reference §6.6).
        this.respond(op, this.isStub ? digest : Buffer.from(digest.toString('hex'), 'ascii'));
        return;
      }
      case OP.READ_FLASH_SLOW: {
        if (this.isStub || chip.platform !== 'esp32') {
          this.unsupported(op);
          return;
        }
        if (payload.length !== 8) {
          this.fail(op, this.invalid());
          return;
        }
        const [address, length] = words(2);
        if (length! > 64) {
          this.fail(op, ROM_ERROR.READ_LENGTH);
          return;
        }
        // Always 64 bytes back, whatever was asked (reference §3.1, [ET4] esp32.py L392-419).
        const data = new Uint8Array(64).fill(0xff);
        data.set(this.options.flash.read(address!, length!));
        this.respond(op, data);
        return;
      }
      case OP.ERASE_FLASH:
        if (!this.isStub) {
          this.unsupported(op);
          return;
        }
        this.eraseRange(0, this.options.flash.size);
        this.ok(op);
        return;
      case OP.ERASE_REGION: {
        if (!this.isStub) {
          this.unsupported(op);
          return;
        }
        if (payload.length !== 8) {
          this.fail(op, STUB_ERROR.BAD_DATA_LEN);
          return;
        }
        const [offset, size] = words(2);
        if (offset! % FLASH_SECTOR !== 0 || size! % FLASH_SECTOR !== 0) {
          this.fail(op, STUB_ERROR.FAILED_SPI_OP);
          return;
        }
        this.eraseRange(offset!, size!);
        this.ok(op);
        return;
      }
      case OP.READ_FLASH:
        if (!this.isStub) {
          this.unsupported(op);
          return;
        }
        this.readFlashBegin(op, payload);
        return;
      case OP.RUN_USER_CODE:
        if (!this.isStub) {
          this.unsupported(op);
          return;
        }
        // No response (reference §3.1): the stub jumps to the app.
        this.leave();
        return;
      default:
        // GET_SECURITY_INFO on ESP32/ESP8266 and every unknown opcode (T6, reference §3.4).
        this.unsupported(op);
        return;
    }
  }

  private flashBegin(op: number, payload: Uint8Array, compressed: boolean): void {
    // 16 bytes from esptool, 20 from esptool-js to every ROM (T14, reference §6.3).
    if (payload.length !== 16 && payload.length !== 20) {
      this.fail(op, this.invalid());
      return;
    }
    const [eraseSize, blocks, blockSize, offset] = readWords(payload, 4) as [number, number, number, number];
    if (this.isStub && blockSize > STUB_MAX_BLOCK) {
      this.fail(op, STUB_ERROR.BAD_BLOCKSIZE);
      return;
    }
    if (
      offset + (compressed ? eraseSize : Math.min(eraseSize, blocks * blockSize)) >
      this.options.flash.size
    ) {
      this.fail(op, this.isStub ? STUB_ERROR.FAILED_SPI_OP : ROM_ERROR.FAILED);
      return;
    }
    this.eraseRange(offset, this.eraseBytes(offset, eraseSize, compressed));
    this.write = {
      offset,
      blockSize,
      blocks,
      nextSeq: 0,
      ...(compressed ? { compressed: { chunks: [], written: 0, size: eraseSize } } : {}),
    };
    this.ok(op);
  }

  /**
   * How much a FLASH_BEGIN erases. The ESP8266 ROM erases r + min(head, r) sectors for a request
   * of r sectors, which is why esptool sends it a smaller figure (T15, reference §6.2,
   * [ET4] esp8266.py L153-170). ESP32 ROM and the stubs erase the size asked, whole sectors.
   */
  private eraseBytes(offset: number, eraseSize: number, compressed: boolean): number {
    if (this.options.chip.platform === 'esp8266' && !this.isStub && !compressed) {
      const sectors = Math.ceil(eraseSize / FLASH_SECTOR);
      const head = 16 - (Math.floor(offset / FLASH_SECTOR) % 16);
      return (sectors + Math.min(head, sectors)) * FLASH_SECTOR;
    }
    return eraseSize;
  }

  private flashData(op: number, payload: Uint8Array, checksum: number, compressed: boolean): void {
    const session = this.write;
    const notInFlash = this.isStub ? STUB_ERROR.NOT_IN_FLASH_MODE : ROM_ERROR.FAILED;
    if (session === undefined || (session.compressed !== undefined) !== compressed) {
      this.fail(op, notInFlash);
      return;
    }
    if (payload.length < 16) {
      this.fail(op, this.invalid());
      return;
    }
    const [length, seq] = readWords(payload, 2) as [number, number];
    const data = payload.subarray(16);
    if (length !== data.length) {
      this.fail(op, this.isStub ? STUB_ERROR.BAD_DATA_LEN : this.invalid());
      return;
    }
    if (xorChecksum(data, 0, data.length) !== (checksum & 0xff)) {
      this.fail(op, this.isStub ? STUB_ERROR.BAD_DATA_CHECKSUM : ROM_ERROR.BAD_CHECKSUM);
      return;
    }
    if (seq !== session.nextSeq) {
      this.fail(op, this.invalid());
      return;
    }
    if (session.compressed !== undefined) {
      const stream = session.compressed;
      stream.chunks.push(Buffer.from(data));
      let inflated: Buffer;
      try {
        // One zlib stream over all blocks of this BEGIN (T16): inflate what has arrived so far.
        inflated = inflateSync(Buffer.concat(stream.chunks), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      } catch {
        this.write = undefined;
        this.fail(op, this.isStub ? STUB_ERROR.INFLATE_ERROR : ROM_ERROR.DEFLATE);
        return;
      }
      if (inflated.length > stream.size) {
        this.fail(op, this.isStub ? STUB_ERROR.TOO_MUCH_DATA : ROM_ERROR.DEFLATE);
        return;
      }
      this.program(session.offset + stream.written, inflated.subarray(stream.written));
      stream.written = inflated.length;
    } else {
      if (data.length > session.blockSize) {
        this.fail(op, this.isStub ? STUB_ERROR.BAD_BLOCKSIZE : this.invalid());
        return;
      }
      this.program(session.offset + seq * session.blockSize, data);
    }
    session.nextSeq++;
    this.ok(op);
  }

  /** Programs what lies inside the chip; the 0xFF padding of a last block past the end is dropped. */
  private program(address: number, data: Uint8Array): void {
    const flash = this.options.flash;
    const inside = Math.max(0, Math.min(data.length, flash.size - address));
    if (inside > 0) flash.program(address, data.subarray(0, inside));
  }

  private eraseRange(offset: number, length: number): void {
    if (length <= 0) return;
    const start = Math.floor(offset / FLASH_SECTOR) * FLASH_SECTOR;
    const end = Math.min(this.options.flash.size, Math.ceil((offset + length) / FLASH_SECTOR) * FLASH_SECTOR);
    if (end > start) this.options.flash.eraseRange(start, end - start);
  }

  private readFlashBegin(op: number, payload: Uint8Array): void {
    if (payload.length !== 16) {
      this.fail(op, STUB_ERROR.BAD_DATA_LEN);
      return;
    }
    const [offset, length, packetSize, maxInFlight] = readWords(payload, 4) as [
      number,
      number,
      number,
      number,
    ];
    if (offset + length > this.options.flash.size || packetSize === 0) {
      this.fail(op, STUB_ERROR.FAILED_SPI_OP);
      return;
    }
    // The response has value 0 and no data (T17, reference §6.7), then the data stream.
    this.ok(op);
    this.read = { offset, length, packetSize, maxInFlight, sent: 0, acked: 0, md5: createHash('md5') };
    this.sendReadPackets();
  }

  /**
   * Packets go out while fewer than `max_in_flight` bytes are unacknowledged; with the 0x1000
   * packets esptool and esptool-js ask for, that is one packet, then its ack (reference §6.7).
   */
  private sendReadPackets(): void {
    const session = this.read!;
    while (session.sent < session.length && session.sent - session.acked < Math.max(1, session.maxInFlight)) {
      const size = Math.min(session.packetSize, session.length - session.sent);
      const data = this.options.flash.read(session.offset + session.sent, size);
      session.md5.update(data);
      session.sent += size;
      this.options.transmit(slipEncode(data));
    }
  }

  private onReadAck(frame: Uint8Array): void {
    const session = this.read!;
    if (frame.length !== 4) return;
    session.acked = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true);
    if (session.acked >= session.length) {
      this.read = undefined;
      // The 16 raw MD5 bytes close the stream; esptool checks them, esptool-js leaves them unread.
      this.options.transmit(slipEncode(session.md5.digest()));
      return;
    }
    this.sendReadPackets();
  }

  private leave(): void {
    this.stop();
    this.options.runApp();
  }

  private invalid(): number {
    return this.isStub ? STUB_ERROR.BAD_DATA_LEN : ROM_ERROR.INVALID_MESSAGE;
  }

  private ok(op: number): void {
    this.respond(op, new Uint8Array(0));
  }

  /**
   * An unsupported command: the ROM answers status `01 05` under opcode 0x00 (choice (b) of
   * reference §3.4: esptool-js and esptool both read it as "unsupported" and fall back to the
   * magic register); the stub answers its own opcode with 0xC3 (invalid command).
   */
  private unsupported(op: number): void {
    if (this.isStub) this.fail(op, STUB_ERROR.INVALID_COMMAND);
    else this.respondStatus(0x00, new Uint8Array(0), 1, ROM_ERROR.INVALID_MESSAGE, this.staleValue);
  }

  private fail(op: number, error: number): void {
    this.respondStatus(op, new Uint8Array(0), 1, error, this.isStub ? 0 : this.staleValue);
  }

  private respond(op: number, data: Uint8Array, value?: number): void {
    this.respondStatus(op, data, 0, 0, value ?? (this.isStub ? 0 : this.staleValue));
  }

  /**
   * Response: `01 op size value data status`. Status is [status, error] (+ 2 reserved bytes on the
   * ESP32 ROM); the stub sends [error, 0] with error 0 = OK (T3, reference §2.3).
   */
  private respondStatus(op: number, data: Uint8Array, status: 0 | 1, error: number, value: number): void {
    const statusBytes = this.isStub
      ? Uint8Array.of(status === 0 ? 0 : error, 0)
      : this.options.chip.romStatusLength === 4
        ? Uint8Array.of(status, error, 0, 0)
        : Uint8Array.of(status, error);
    const packet = new Uint8Array(8 + data.length + statusBytes.length);
    const view = new DataView(packet.buffer);
    packet[0] = 0x01;
    packet[1] = op;
    view.setUint16(2, data.length + statusBytes.length, true);
    view.setUint32(4, value >>> 0, true);
    packet.set(data, 8);
    packet.set(statusBytes, 8 + data.length);
    this.options.transmit(slipEncode(packet));
  }
}

function readWords(payload: Uint8Array, count: number): number[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const words: number[] = [];
  for (let i = 0; i < count && i * 4 + 4 <= payload.length; i++) words.push(view.getUint32(i * 4, true));
  return words;
}

/** `07 07 12 20` + 32 × `55` (reference §3.1). */
function isSyncPayload(payload: Uint8Array): boolean {
  if (payload.length !== 36) return false;
  if (payload[0] !== 0x07 || payload[1] !== 0x07 || payload[2] !== 0x12 || payload[3] !== 0x20) return false;
  for (let i = 4; i < 36; i++) if (payload[i] !== 0x55) return false;
  return true;
}
