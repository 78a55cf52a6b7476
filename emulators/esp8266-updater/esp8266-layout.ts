/**
 * Where things sit in an ESP8266's flash, as the Arduino core sees them. Offsets are flash
 * offsets (the linker's _FS_start/_FS_end minus the 0x40200000 mapping base).
 */
export interface Esp8266Layout {
  /** The flash size the sketch was built for (the SDK's idea, byte 3 of the header at 0). */
  flashSize: number;
  /** Bytes the running sketch occupies from offset 0 (ESP.getSketchSize()). */
  sketchSize: number;
  fsStart: number;
  fsEnd: number;
  /** The mode the chip runs its flash in (ESP.getFlashChipMode()): QIO 0, QOUT 1, DIO 2, DOUT 3. */
  flashMode: 0 | 1 | 2 | 3;
}

export const FLASH_SECTOR_SIZE = 4096;
/** The app image sits one sector after eboot (APP_START_OFFSET in eboot and Esp.cpp). */
export const APP_START_OFFSET = 0x1000;

/** "4MB (FS:2MB OTA:~1019KB)": tools/sdk/ld/eagle.flash.4m2m.ld (_FS_start 0x40400000, _FS_end 0x405FA000). */
export const LAYOUT_4M_FS2M: Esp8266Layout = Object.freeze({
  flashSize: 4 * 1024 * 1024,
  sketchSize: 0x5_2a10,
  fsStart: 0x20_0000,
  fsEnd: 0x3f_a000,
  flashMode: 2,
});

/** "1MB (FS:64KB OTA:~470KB)": tools/sdk/ld/eagle.flash.1m64.ld (_FS_start 0x402EB000, _FS_end 0x402FB000). */
export const LAYOUT_1M_FS64K: Esp8266Layout = Object.freeze({
  flashSize: 1024 * 1024,
  sketchSize: 0x4_2a10,
  fsStart: 0xe_b000,
  fsEnd: 0xf_b000,
  flashMode: 2,
});

export function roundUpToSector(size: number): number {
  return Math.ceil(size / FLASH_SECTOR_SIZE) * FLASH_SECTOR_SIZE;
}

/** Byte 3's high nibble → bytes (EspClass::magicFlashChipSize); 0 for a nibble it does not know. */
export function magicFlashChipSize(nibble: number): number {
  switch (nibble & 0x0f) {
    case 0x0:
      return 512 * 1024;
    case 0x1:
      return 256 * 1024;
    case 0x2:
      return 1024 * 1024;
    case 0x3:
      return 2 * 1024 * 1024;
    case 0x4:
      return 4 * 1024 * 1024;
    case 0x8:
      return 8 * 1024 * 1024;
    case 0x9:
      return 16 * 1024 * 1024;
    default:
      return 0;
  }
}

/** Byte 2 → mode (EspClass::magicFlashChipMode): above DOUT (3) is FM_UNKNOWN (0xFF). */
export function magicFlashChipMode(byte: number): number {
  return byte > 3 ? 0xff : byte;
}
