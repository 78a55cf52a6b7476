import { FLASH_TIMING } from '../../emulators/flash/index.ts';
import type { BenchReport } from '../report.ts';
import type { BenchRow } from './target-bench.ts';

/**
 * The cited figures a chip's write path is held against, in KiB/s of image written when every
 * 4 KiB sector is erased just before it is programmed (the ESP8266 Updater, the ESP32 Update
 * library's sector path, ViperHTTP's writer, esp_ota_write with sequential erase):
 * - esp32: reference esp-idf.md §8.3, ESP-IDF's CI floors taken as 70 % of the mean: erase
 *   65 KB/s, program 754 / 0.7 KB/s, so 1 / (1/65 + 1/1077) ≈ 61.3 KB/s.
 * - esp8266: esp-idf.md §8.2, the W25Q32 (BV/FV) row a 4 MB ESP-12/ESP-WROOM-02 module carries:
 *   30 ms per sector erase and 0.7 ms per 256-byte page, 4 KiB / (30 + 16 × 0.7) ms ≈ 97.1 KB/s.
 */
export const CHIP_REFERENCE_KBPS: Readonly<Record<'esp32' | 'esp8266', number>> = {
  esp32: 1 / (1 / 65 + 1 / (754 / 0.7)),
  esp8266: 4 / ((FLASH_TIMING.esp8266.sectorEraseMs + 16 * FLASH_TIMING.esp8266.pageProgramMs) / 1000),
};

const TOLERANCE = 0.2;

/**
 * Every harness row that ran against an emulator with a chip's timing profile: its write-path KB/s
 * (image over the write phase where the target shows one, else over the transfer phase, inside which
 * a push device writes flash) against the chip figure.
 */
export function chipReferenceRows(rows: readonly BenchRow[]): BenchReport {
  const out: (string | number)[][] = [];
  for (const row of rows) {
    if (row.client !== 'harness' || row.kbps.runs === 0) continue;
    if (row.timing !== 'esp32' && row.timing !== 'esp8266') continue;
    const window = row.phases.write ?? row.phases.transfer;
    if (window === undefined) continue;
    const measured = row.imageBytes / 1024 / window.median;
    const reference = CHIP_REFERENCE_KBPS[row.timing];
    const ratio = measured / reference;
    out.push([
      row.target,
      row.profile,
      row.timing,
      row.chunkBytes === 0 ? row.sizeUnit : `${row.chunkBytes} B`,
      Number(measured.toFixed(1)),
      Number(reference.toFixed(1)),
      Number(ratio.toFixed(2)),
      Math.abs(ratio - 1) <= TOLERANCE ? 'yes' : 'NO',
    ]);
  }
  return {
    title: 'Emulator write path against the chip figures it models (DESIGN.md: within ±20 %)',
    columns: ['target', 'profile', 'timing', 'size', 'write path KB/s', 'chip KB/s', 'ratio', 'within ±20 %'],
    rows: out,
    notes: [
      'write path = image KiB over the write phase (pull: request to the device restarting after its check) or, where the ' +
        'device writes inside each request (push), over the transfer phase. ' +
        `Chip figures: esp32 ${CHIP_REFERENCE_KBPS.esp32.toFixed(1)} KB/s (esp-idf.md §8.3, ESP-IDF CI floors at 70 % of the mean), ` +
        `esp8266 ${CHIP_REFERENCE_KBPS.esp8266.toFixed(1)} KB/s (esp-idf.md §8.2, W25Q32 BV/FV typical sector erase and page program).`,
    ],
  };
}
