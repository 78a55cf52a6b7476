import type { Platform } from '../device/types.ts';

/**
 * What the ROM prints when it starts in download mode (reference/esp-serial-flasher.md §1.6):
 * ESP32 names the strap value 0x3 (GPIO0 low, MTDO high) and says `waiting for download`, which
 * esptool and esptool-js look for in the boot log (§1.7); the ESP8266 prints `boot mode:(1,7)`
 * (at 74880 baud on a real chip). After the banner the loader stays silent until SYNC (T13).
 */
export function romDownloadBanner(
  platform: Platform,
  reason: 'power-on' | 'software' | 'reset-pin',
): string[] {
  if (platform === 'esp32') {
    const rst = reason === 'software' ? '0xc (SW_CPU_RESET)' : '0x1 (POWERON_RESET)';
    return [
      'ets Jun  8 2016 00:22:57',
      '',
      `rst:${rst},boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))`,
      'waiting for download',
    ];
  }
  // rst cause: 1 power-on, 2 external reset (EN), 4 watchdog (reference §1.6, esp-idf.md §7.3).
  const cause = reason === 'power-on' ? 1 : reason === 'reset-pin' ? 2 : 4;
  return ['', `ets Jan  8 2013,rst cause:${cause}, boot mode:(1,7)`, ''];
}
