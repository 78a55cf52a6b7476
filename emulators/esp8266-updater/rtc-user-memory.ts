import { EBOOT_COMMAND_BYTES } from './eboot-command.ts';

/** Bytes of RTC user memory (0x60001200..0x600013FF); eboot's command uses the first 128. */
export const RTC_USER_MEMORY_BYTES = 512;
/** Where user RTC memory, and so the eboot command, starts on the chip. */
export const RTC_USER_MEMORY_ADDRESS = 0x60001200;

/**
 * What a genuine power-off (supply removed, not a reset) does to RTC user memory.
 * 'retain' is the intent stated in PR #6823 ("any partial copy is restarted at next power on");
 * 'lose' is the reading that RTC RAM is not battery-backed. Which one real chips do is
 * UNCONFIRMED (reference/arduino-ota.md §4.7), so the model lets a test choose.
 */
export type RtcPowerOffBehaviour = 'retain' | 'lose';

export interface RtcUserMemoryOptions {
  powerOff?: RtcPowerOffBehaviour;
}

/** RTC user memory: survives soft resets, reset-pin and watchdog resets; power-off per option. */
export class RtcUserMemory {
  readonly powerOffBehaviour: RtcPowerOffBehaviour;
  private readonly memory = new Uint8Array(RTC_USER_MEMORY_BYTES);

  constructor(options: RtcUserMemoryOptions = {}) {
    this.powerOffBehaviour = options.powerOff ?? 'retain';
  }

  read(offset: number, length: number): Uint8Array {
    this.assertInRange(offset, length);
    return this.memory.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    this.assertInRange(offset, data.length);
    this.memory.set(data, offset);
  }

  /** The 128 bytes eboot_command_read() copies out. */
  readEbootCommandBytes(): Uint8Array {
    return this.read(0, EBOOT_COMMAND_BYTES);
  }

  writeEbootCommandBytes(bytes: Uint8Array): void {
    if (bytes.length !== EBOOT_COMMAND_BYTES) {
      throw new RangeError(`an eboot command is ${EBOOT_COMMAND_BYTES} bytes, got ${bytes.length}`);
    }
    this.write(0, bytes);
  }

  /** eboot_command_clear(): zeroes only the magic and crc32 words, leaving the args behind. */
  clearEbootCommand(): void {
    this.memory.fill(0, 0, 4);
    this.memory.fill(0, EBOOT_COMMAND_BYTES - 4, EBOOT_COMMAND_BYTES);
  }

  /** Supply removed and restored. With 'lose' the contents read as zero afterwards. */
  powerCycle(): void {
    if (this.powerOffBehaviour === 'lose') this.memory.fill(0);
  }

  private assertInRange(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0) {
      throw new RangeError(`RTC user memory access ${offset}+${length} is not a valid range`);
    }
    if (offset + length > RTC_USER_MEMORY_BYTES) {
      throw new RangeError(
        `RTC user memory access ${offset}+${length} runs past its ${RTC_USER_MEMORY_BYTES} bytes`,
      );
    }
  }
}
