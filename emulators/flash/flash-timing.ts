import { FlashUsageError } from './errors.ts';

export type FlashTimingProfileName = 'none' | 'esp32' | 'esp8266';

/** How long one operation keeps the chip busy, in ms of the VirtualClock. */
export interface FlashTiming {
  sectorEraseMs: number;
  blockEraseMs: number;
  pageProgramMs: number;
}

/**
 * Typical (mean) durations, not ESP-IDF's worst-case timeouts (600 / 4100 / 500 ms, esp-idf.md
 * §8.1): an emulated OTA should take about as long as on a real board, not as long as it may.
 */
export const FLASH_TIMING: Readonly<Record<FlashTimingProfileName, Readonly<FlashTiming>>> = Object.freeze({
  none: Object.freeze({ sectorEraseMs: 0, blockEraseMs: 0, pageProgramMs: 0 }),
  esp32: Object.freeze({
    // esp-idf.md §8.3 "Derived: the mean erase rate is about 65 KB/s (≈ 63 ms per 4 KB sector)",
    // i.e. the 45.3 KB/s CI threshold taken at 70 % of the mean.
    sectorEraseMs: 63,
    // esp-idf.md §8.2 Winbond W25Q16/32/64/128 (JV) and W25Q32 rows: block erase 64 KB typ 150 ms.
    blockEraseMs: 150,
    // esp-idf.md §8.3 "the mean program rate is about 1 MB/s": 256 B / 1 MB/s ≈ 0.25 ms per page
    // (0.25 is exact in binary, so long runs add up without rounding drift).
    pageProgramMs: 0.25,
  }),
  esp8266: Object.freeze({
    // The ESP8266 has no flash of its own: ESP-12E/F and ESP-WROOM-02 modules carry a Winbond
    // W25Q32-class 4 MB chip (or an equivalent GigaDevice GD25Q32). esp-idf.md §8.2, row "Winbond
    // W25Q32 (older BV/FV, Mynewt BSP values)": sector erase 4 KB typ 30 ms, block erase 64 KB typ
    // 150 ms, page program 256 B typ 0.7 ms. Espressif publishes no ESP8266 throughput figure
    // (arduino-ota.md §6), so the chip's typical figures are the model: the ESP8266 Updater buffers
    // 4096 bytes (arduino-ota.md §4.2 item 8) and erases each sector just before writing it,
    // 30 + 16 × 0.7 = 41.2 ms per sector, ≈ 97 KB/s of flash write.
    sectorEraseMs: 30,
    blockEraseMs: 150,
    pageProgramMs: 0.7,
  }),
});

export function resolveFlashTiming(timing: FlashTimingProfileName | FlashTiming | undefined): FlashTiming {
  if (timing === undefined) return FLASH_TIMING.none;
  if (typeof timing === 'string') {
    const profile = (FLASH_TIMING as Readonly<Record<string, FlashTiming | undefined>>)[timing];
    if (profile === undefined) {
      throw new FlashUsageError(
        `unknown flash timing profile '${timing}'; use one of ${Object.keys(FLASH_TIMING).join(', ')}`,
      );
    }
    return profile;
  }
  for (const key of ['sectorEraseMs', 'blockEraseMs', 'pageProgramMs'] as const) {
    const value = timing[key];
    if (!Number.isFinite(value) || value < 0) {
      throw new FlashUsageError(
        `flash timing ${key} must be a finite, non-negative number of ms, got ${value}`,
      );
    }
  }
  return Object.freeze({ ...timing });
}
