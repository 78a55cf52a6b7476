/**
 * What the ESP32 mask ROM prints before the second-stage bootloader runs (reference/esp-idf.md
 * §7.1): the banner, the reset reason with its code from `rtc.h`, and the loader lines of the
 * bootloader image as in the ESP-IDF getting-started sample.
 */
export const ESP32_RESET_REASONS = {
  POWERON_RESET: 1,
  SW_RESET: 3,
  OWDT_RESET: 4,
  DEEPSLEEP_RESET: 5,
  SDIO_RESET: 6,
  TG0WDT_SYS_RESET: 7,
  TG1WDT_SYS_RESET: 8,
  RTCWDT_SYS_RESET: 9,
  INTRUSION_RESET: 10,
  TGWDT_CPU_RESET: 11,
  SW_CPU_RESET: 12,
  RTCWDT_CPU_RESET: 13,
  EXT_CPU_RESET: 14,
  RTCWDT_BROWN_OUT_RESET: 15,
  RTCWDT_RTC_RESET: 16,
} as const;

export type Esp32ResetReason = keyof typeof ESP32_RESET_REASONS;

export function esp32RomLines(resetReason: Esp32ResetReason): string[] {
  const code = ESP32_RESET_REASONS[resetReason];
  return [
    'ets Jun  8 2016 00:22:57',
    '',
    `rst:0x${code.toString(16)} (${resetReason}),boot:0x13 (SPI_FAST_FLASH_BOOT)`,
    'configsip: 0, SPIWP:0xee',
    'clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00',
    'mode:DIO, clock div:2',
    'load:0x3fff0018,len:4',
    'load:0x3fff001c,len:8452',
    'load:0x40078000,len:13608',
    'load:0x40080400,len:6664',
    'entry 0x40080764',
  ];
}
