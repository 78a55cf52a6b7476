import { SeededRandom } from '../../fixtures/random/index.ts';
import { FlashAddressError, FlashPowerLostError, FlashUsageError } from './errors.ts';
import type { FlashTiming, FlashTimingProfileName } from './flash-timing.ts';
import { resolveFlashTiming } from './flash-timing.ts';
import { VirtualClock } from './virtual-clock.ts';

export interface NorFlashOptions {
  /** Bytes; a whole number of 4 KiB sectors. */
  size: number;
  /** Defaults to 'none' (operations cost no time). */
  timing?: FlashTimingProfileName | FlashTiming;
  /** Share one clock between the flash and the rest of an emulated device. */
  clock?: VirtualClock;
  /** Seeds the torn states of power cuts; the same seed and the same operations replay the same bytes. */
  seed?: number;
  /** Contents at power-up; shorter than `size` leaves the rest erased (0xFF), as a factory-fresh chip. */
  initial?: Uint8Array;
}

export type FlashOperationKind = 'erase-sector' | 'erase-block' | 'program';

export interface FlashOperation {
  kind: FlashOperationKind;
  offset: number;
  length: number;
  startMs: number;
  endMs: number;
  /** false for the one operation a power cut interrupted. */
  completed: boolean;
}

export type PowerCutLimit = ({ bytes: number } | { operations: number }) & {
  /**
   * Seeds this cut's torn state by itself (instead of the chip's seed and how many cuts came
   * before), so a campaign can replay one cut on a fresh chip and tear the same bits.
   */
  tornSeed?: number;
};

export interface FlashStats {
  readonly sectorErases: number;
  readonly blockErases: number;
  readonly pagePrograms: number;
  /** Bytes that reached the array, including the finished prefix of a torn page. */
  readonly bytesProgrammed: number;
}

type OperationListener = (operation: FlashOperation) => void;

type CutMode = 'none' | 'bytes' | 'operations';

const ERASED = 0xff;

/**
 * A NOR flash chip as ESP32/ESP8266 firmware sees it: erase sets a 4 KiB sector or 64 KiB block
 * to 0xFF, program can only clear bits (new = old AND data) and is split at 256-byte page
 * boundaries, every operation costs time on a VirtualClock, and an armed power cut leaves the
 * interrupted page or sector torn the way real cells are.
 */
export class NorFlash {
  static readonly SECTOR_SIZE = 4096;
  static readonly BLOCK_SIZE = 65536;
  static readonly PAGE_SIZE = 256;

  readonly size: number;
  readonly clock: VirtualClock;
  readonly timing: FlashTiming;
  readonly seed: number;

  private readonly memory: Uint8Array;
  private readonly listeners = new Set<OperationListener>();
  private isPowered = true;
  private cutMode: CutMode = 'none';
  private cutRemaining = 0;
  private cutsSoFar = 0;
  private cutSeed: number | undefined;
  private sectorErases = 0;
  private blockErases = 0;
  private pagePrograms = 0;
  private bytesProgrammed = 0;

  constructor(options: NorFlashOptions) {
    const { size } = options;
    if (!Number.isSafeInteger(size) || size <= 0 || size % NorFlash.SECTOR_SIZE !== 0) {
      throw new FlashUsageError(`flash size must be a positive multiple of 4096 bytes, got ${size}`);
    }
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) {
      throw new FlashUsageError(`flash seed must be an integer, got ${seed}`);
    }
    this.size = size;
    this.seed = seed;
    this.clock = options.clock ?? new VirtualClock();
    this.timing = resolveFlashTiming(options.timing);
    this.memory = new Uint8Array(size).fill(ERASED);
    if (options.initial !== undefined) {
      if (options.initial.length > size) {
        throw new FlashUsageError(
          `initial contents are ${options.initial.length} bytes, more than the ${size}-byte flash`,
        );
      }
      this.memory.set(options.initial);
    }
  }

  get powered(): boolean {
    return this.isPowered;
  }

  /** Completed operations and bytes since construction (a torn operation is not counted). */
  get stats(): FlashStats {
    return {
      sectorErases: this.sectorErases,
      blockErases: this.blockErases,
      pagePrograms: this.pagePrograms,
      bytesProgrammed: this.bytesProgrammed,
    };
  }

  read(offset: number, length: number): Uint8Array {
    this.assertPowered('read');
    this.assertInRange('read', offset, length);
    return this.memory.slice(offset, offset + length);
  }

  /**
   * The same bytes as read() without copying them: a view of the chip that the next erase or
   * program changes under it, for a caller that is done with it before the flash is touched again
   * (an image verified whole at boot: copying a 1.5 MB partition for it cost more than the check).
   */
  view(offset: number, length: number): Uint8Array {
    this.assertPowered('read');
    this.assertInRange('read', offset, length);
    return this.memory.subarray(offset, offset + length);
  }

  /** The whole chip as a copy; works without power, like reading a desoldered chip. */
  snapshot(): Uint8Array {
    return this.memory.slice();
  }

  /**
   * Puts back contents taken with snapshot(), while the chip is off: what reflashing a board to a
   * known state does, without the operations (a power-cut campaign starts every cut from it).
   */
  restore(contents: Uint8Array): void {
    if (this.isPowered) {
      throw new FlashUsageError(
        'cannot restore the flash contents while it has power; call powerOff() first',
      );
    }
    if (contents.length !== this.size) {
      throw new FlashUsageError(`restore needs ${this.size} bytes of contents, got ${contents.length}`);
    }
    this.memory.set(contents);
  }

  eraseSector(offset: number): void {
    this.assertPowered('erase-sector');
    this.assertEraseUnit('erase-sector', offset, NorFlash.SECTOR_SIZE);
    this.erase('erase-sector', offset, NorFlash.SECTOR_SIZE, this.timing.sectorEraseMs);
  }

  eraseBlock(offset: number): void {
    this.assertPowered('erase-block');
    this.assertEraseUnit('erase-block', offset, NorFlash.BLOCK_SIZE);
    this.erase('erase-block', offset, NorFlash.BLOCK_SIZE, this.timing.blockEraseMs);
  }

  /**
   * Erases a sector-aligned range the way esp_flash_erase_region does: a 64 KiB block erase
   * wherever a whole aligned block fits (one block is much faster than 16 sectors), sector
   * erases elsewhere.
   */
  eraseRange(offset: number, length: number): void {
    this.assertPowered('erase-range');
    this.assertInRange('erase-range', offset, length);
    if (offset % NorFlash.SECTOR_SIZE !== 0 || length % NorFlash.SECTOR_SIZE !== 0) {
      throw new FlashAddressError(
        `erase-range 0x${hex(offset)}+0x${hex(length)} is not sector-aligned; offset and length must be multiples of 0x1000`,
      );
    }
    const end = offset + length;
    let address = offset;
    while (address < end) {
      if (address % NorFlash.BLOCK_SIZE === 0 && address + NorFlash.BLOCK_SIZE <= end) {
        this.erase('erase-block', address, NorFlash.BLOCK_SIZE, this.timing.blockEraseMs);
        address += NorFlash.BLOCK_SIZE;
      } else {
        this.erase('erase-sector', address, NorFlash.SECTOR_SIZE, this.timing.sectorEraseMs);
        address += NorFlash.SECTOR_SIZE;
      }
    }
  }

  /** Any offset and length; each 256-byte page the data touches is one page-program operation. */
  program(offset: number, data: Uint8Array): void {
    this.assertPowered('program');
    this.assertInRange('program', offset, data.length);
    let position = 0;
    while (position < data.length) {
      const address = offset + position;
      const pageEnd = address - (address % NorFlash.PAGE_SIZE) + NorFlash.PAGE_SIZE;
      const chunkLength = Math.min(pageEnd - address, data.length - position);
      this.programPage(address, data, position, chunkLength);
      position += chunkLength;
    }
  }

  /**
   * Arms a power cut. `{ bytes: n }`: exactly n more bytes get programmed; the page program that
   * would write byte n+1 is cut after its first bytes (erases before it are unaffected, so a cut
   * can land between an erase and the write that follows it). `{ operations: n }`: n more
   * erases/page programs complete and the next one is cut part-way. Re-arming replaces the cut.
   */
  cutAfter(limit: PowerCutLimit): void {
    if (!this.isPowered) {
      throw new FlashPowerLostError('cannot arm a power cut while the flash is off; call powerOn() first');
    }
    const isBytes = 'bytes' in limit;
    const count = isBytes ? limit.bytes : limit.operations;
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new FlashUsageError(
        `power cut limit ${isBytes ? 'bytes' : 'operations'} must be a non-negative integer, got ${count}`,
      );
    }
    if (limit.tornSeed !== undefined && !Number.isInteger(limit.tornSeed)) {
      throw new FlashUsageError(`power cut tornSeed must be an integer, got ${limit.tornSeed}`);
    }
    this.cutMode = isBytes ? 'bytes' : 'operations';
    this.cutRemaining = count;
    this.cutSeed = limit.tornSeed;
  }

  powerOff(): void {
    this.isPowered = false;
  }

  /** Restores power and disarms any pending cut, as a fresh boot would not inherit one. */
  powerOn(): void {
    this.isPowered = true;
    this.cutMode = 'none';
    this.cutRemaining = 0;
    this.cutSeed = undefined;
  }

  /** Calls `listener` after every erase and page program, in order; returns an unsubscribe function. */
  onOperation(listener: OperationListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private erase(kind: FlashOperationKind, offset: number, length: number, durationMs: number): void {
    if (this.cutMode === 'operations') {
      if (this.cutRemaining === 0) {
        this.tearErase(kind, offset, length, durationMs);
      }
      this.cutRemaining--;
    }
    const startMs = this.clock.now();
    this.memory.fill(ERASED, offset, offset + length);
    if (durationMs > 0) this.clock.advance(durationMs);
    if (kind === 'erase-block') this.blockErases++;
    else this.sectorErases++;
    this.notify(kind, offset, length, startMs, true);
  }

  private programPage(address: number, data: Uint8Array, position: number, length: number): void {
    if (this.cutMode === 'operations') {
      if (this.cutRemaining === 0) {
        this.tearProgramAtRandomPoint(address, data, position, length);
      }
      this.cutRemaining--;
    } else if (this.cutMode === 'bytes') {
      if (this.cutRemaining < length) {
        this.tearProgramAtByteLimit(address, data, position, length);
      }
      this.cutRemaining -= length;
    }
    const startMs = this.clock.now();
    const memory = this.memory;
    for (let i = 0; i < length; i++) {
      memory[address + i]! &= data[position + i]!;
    }
    if (this.timing.pageProgramMs > 0) this.clock.advance(this.timing.pageProgramMs);
    this.pagePrograms++;
    this.bytesProgrammed += length;
    this.notify('program', address, length, startMs, true);
  }

  private tearProgramAtByteLimit(address: number, data: Uint8Array, position: number, length: number): never {
    const written = this.cutRemaining;
    const startMs = this.clock.now();
    const memory = this.memory;
    for (let i = 0; i < written; i++) {
      memory[address + i]! &= data[position + i]!;
    }
    this.bytesProgrammed += written;
    return this.loseTornOperation(
      'program',
      address,
      length,
      startMs,
      (this.timing.pageProgramMs * written) / length,
    );
  }

  /**
   * Cells are programmed in order, so a cut leaves a prefix of the page written; the byte being
   * programmed at that moment may have only some of its bits cleared.
   */
  private tearProgramAtRandomPoint(
    address: number,
    data: Uint8Array,
    position: number,
    length: number,
  ): never {
    const random = this.randomForNextCut();
    const written = random.int(0, length - 1);
    const startMs = this.clock.now();
    const memory = this.memory;
    for (let i = 0; i < written; i++) {
      memory[address + i]! &= data[position + i]!;
    }
    if (random.next() < 0.5) {
      const old = memory[address + written]!;
      const bitsToClear = old & ~data[position + written]! & ERASED;
      memory[address + written] = old & ~(bitsToClear & random.int(0, ERASED));
    }
    this.bytesProgrammed += written;
    return this.loseTornOperation(
      'program',
      address,
      length,
      startMs,
      (this.timing.pageProgramMs * written) / length,
    );
  }

  /**
   * Erase raises cells towards 1 progressively and each cell crosses the threshold at its own
   * moment, so a cut leaves a random subset of the 0 bits raised: the region reads as neither its
   * old contents nor 0xFF (unless it holds fewer than two 0 bits, where no such state exists).
   */
  private tearErase(kind: FlashOperationKind, offset: number, length: number, durationMs: number): never {
    const random = this.randomForNextCut();
    const progress = 0.05 + 0.9 * random.next();
    const startMs = this.clock.now();
    const memory = this.memory;
    let zeroBits = 0;
    let raisedBits = 0;
    let firstZeroAddress = -1;
    let firstZeroMask = 0;
    let lastRaisedAddress = -1;
    let lastRaisedMask = 0;
    for (let address = offset; address < offset + length; address++) {
      const old = memory[address]!;
      if (old === ERASED) continue;
      let raised = 0;
      for (let bit = 0; bit < 8; bit++) {
        const mask = 1 << bit;
        if ((old & mask) !== 0) continue;
        zeroBits++;
        if (firstZeroAddress < 0) {
          firstZeroAddress = address;
          firstZeroMask = mask;
        }
        if (random.next() < progress) {
          raised |= mask;
          raisedBits++;
          lastRaisedAddress = address;
          lastRaisedMask = mask;
        }
      }
      memory[address] = old | raised;
    }
    if (zeroBits >= 2) {
      if (raisedBits === 0) memory[firstZeroAddress]! |= firstZeroMask;
      else if (raisedBits === zeroBits) memory[lastRaisedAddress]! &= ~lastRaisedMask;
    }
    return this.loseTornOperation(kind, offset, length, startMs, durationMs * progress);
  }

  /**
   * Each cut draws from its own generator (seed mixed with the cut's index), so the torn bytes
   * of cut k do not depend on how many draws earlier cuts made.
   */
  private randomForNextCut(): SeededRandom {
    const index = this.cutsSoFar++;
    if (this.cutSeed !== undefined) return new SeededRandom(this.cutSeed >>> 0);
    return new SeededRandom((this.seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
  }

  private loseTornOperation(
    kind: FlashOperationKind,
    offset: number,
    length: number,
    startMs: number,
    elapsedMs: number,
  ): never {
    if (elapsedMs > 0) this.clock.advance(elapsedMs);
    this.isPowered = false;
    this.cutMode = 'none';
    this.cutRemaining = 0;
    this.notify(kind, offset, length, startMs, false);
    throw new FlashPowerLostError(
      `power was cut during ${kind} at 0x${hex(offset)} (${length} bytes); the flash stays off until powerOn()`,
    );
  }

  private notify(
    kind: FlashOperationKind,
    offset: number,
    length: number,
    startMs: number,
    completed: boolean,
  ): void {
    if (this.listeners.size === 0) return;
    const operation: FlashOperation = { kind, offset, length, startMs, endMs: this.clock.now(), completed };
    for (const listener of this.listeners) listener(operation);
  }

  private assertPowered(action: string): void {
    if (!this.isPowered) {
      throw new FlashPowerLostError(`cannot ${action}: the flash has no power; call powerOn() first`);
    }
  }

  private assertInRange(action: string, offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new FlashAddressError(
        `${action} at ${offset}+${length} is outside the ${this.size}-byte flash (0x0..0x${hex(this.size)})`,
      );
    }
  }

  private assertEraseUnit(action: string, offset: number, unit: number): void {
    this.assertInRange(action, offset, unit);
    if (offset % unit !== 0) {
      throw new FlashAddressError(`${action} at 0x${hex(offset)} is not aligned to 0x${hex(unit)}`);
    }
  }
}

function hex(value: number): string {
  return value.toString(16);
}
