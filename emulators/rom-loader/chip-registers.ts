import type { Platform } from '../device/types.ts';

/**
 * The registers the host tools read and write in download mode, per chip
 * (reference/esp-serial-flasher.md §4.1-4.4, §10 step 5-6): the chip-detect magic word, the
 * eFuse words for the MAC and the chip description, UART_CLKDIV for the crystal, and the SPI
 * controller's "user command" engine that esptool drives for the flash ID. Everything else
 * reads back what was last written, or 0.
 */
export interface ChipPersonality {
  platform: Platform;
  /** esptool's name, as `--chip` and esptool-js's CHIP_NAME spell it. */
  chipName: 'ESP32' | 'ESP8266';
  /** CHIP_DETECT_MAGIC_REG_ADDR's value ([ET4] targets/esp32.py L18, esp8266.py L16). */
  magic: number;
  /** Status bytes after a ROM response's data: 4 on the ESP32 family, 2 on ESP8266 (§2.3). */
  romStatusLength: 2 | 4;
  spiBase: number;
  spiW0Offset: number;
  uartClkdivAddress: number;
  /** ≈ crystal / 115200 (× 2 on ESP8266): 0x15B for 40 MHz, 0x1C4 for 26 MHz (§4.3). */
  uartClkdiv: number;
  /** Register words that make up the MAC (§4.3). */
  macRegisters(mac: Uint8Array): Map<number, number>;
}

export const CHIP_DETECT_MAGIC_REG_ADDR = 0x40001000;

export const ESP32_PERSONALITY: ChipPersonality = {
  platform: 'esp32',
  chipName: 'ESP32',
  magic: 0x00f01d83,
  romStatusLength: 4,
  spiBase: 0x3ff42000,
  spiW0Offset: 0x80,
  uartClkdivAddress: 0x3ff40014,
  uartClkdiv: 0x15b,
  // MAC = bytes(w2)[2:4] ‖ bytes(w1), big-endian: (w2>>8)&0xFF, w2&0xFF, w1>>24 … ([ET4] esp32.py L321-328)
  macRegisters: (mac) =>
    new Map([
      [0x3ff5a004, ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0],
      [0x3ff5a008, (mac[0]! << 8) | mac[1]!],
    ]),
};

export const ESP8266_PERSONALITY: ChipPersonality = {
  platform: 'esp8266',
  chipName: 'ESP8266',
  magic: 0xfff0c101,
  romStatusLength: 2,
  spiBase: 0x60000200,
  spiW0Offset: 0x40,
  uartClkdivAddress: 0x60000014,
  uartClkdiv: 0x1c4,
  // id3 (0x3FF0005C) = 0 and (id1>>16)&0xFF = 0 select the OUI 18:FE:34; then (id1>>8)&0xFF,
  // id1&0xFF, id0>>24 ([ET4] esp8266.py L136-151).
  macRegisters: (mac) =>
    new Map([
      [0x3ff00050, (mac[5]! << 24) >>> 0],
      [0x3ff00054, (mac[3]! << 8) | mac[4]!],
      [0x3ff0005c, 0],
    ]),
};

export function personalityFor(platform: Platform): ChipPersonality {
  return platform === 'esp32' ? ESP32_PERSONALITY : ESP8266_PERSONALITY;
}

/** The MAC an emulated chip reports: Espressif's OUI and three bytes from the device's name. */
export function emulatedMac(name: string): Uint8Array {
  let hash = 0x811c9dc5;
  for (const char of name) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return Uint8Array.of(0x18, 0xfe, 0x34, (hash >>> 16) & 0xff, (hash >>> 8) & 0xff, hash & 0xff);
}

const SPI_CMD_USR = 1 << 18;
const SPIFLASH_RDID = 0x9f;
const SPI_USR2_OFFSET = 0x24;

/**
 * The register file of one chip in download mode. A write to the SPI CMD register with bit 18
 * runs the command in USR2[7:0] at once and leaves its answer in W0 (§4.4 "Emulator rule"):
 * 0x9F gives the JEDEC ID of the flash, every other command (SFDP 0x5A, status reads) 0.
 */
export class ChipRegisters {
  private readonly values = new Map<number, number>();

  constructor(
    private readonly chip: ChipPersonality,
    mac: Uint8Array,
    private readonly flashSize: number,
  ) {
    this.values.set(CHIP_DETECT_MAGIC_REG_ADDR, chip.magic);
    this.values.set(chip.uartClkdivAddress, chip.uartClkdiv);
    for (const [address, value] of chip.macRegisters(mac)) this.values.set(address, value);
  }

  read(address: number): number {
    return this.values.get(address >>> 0) ?? 0;
  }

  /** `(old & ~mask) | (value & mask)` (§3.3). */
  write(address: number, value: number, mask: number): void {
    const key = address >>> 0;
    if (key === CHIP_DETECT_MAGIC_REG_ADDR) return; // ROM: not writable
    const next = ((this.read(key) & ~mask) | (value & mask)) >>> 0;
    if (key === this.chip.spiBase && (next & SPI_CMD_USR) !== 0) {
      this.runSpiCommand();
      this.values.set(key, (next & ~SPI_CMD_USR) >>> 0);
      return;
    }
    this.values.set(key, next);
  }

  private runSpiCommand(): void {
    const command = this.read(this.chip.spiBase + SPI_USR2_OFFSET) & 0xff;
    const w0 = this.chip.spiBase + this.chip.spiW0Offset;
    this.values.set(w0, command === SPIFLASH_RDID ? this.jedecId() : 0);
  }

  /** Winbond (0xEF), type 0x40, capacity byte log2(size): 4 MiB → 0x16 (§4.4). */
  private jedecId(): number {
    const capacity = Math.round(Math.log2(this.flashSize));
    return (0xef | (0x40 << 8) | (capacity << 16)) >>> 0;
  }
}
