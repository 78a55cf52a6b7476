import { describe, expect, it } from 'vitest';
import { BootLogTracker, parseBootLine } from './boot-log.ts';

describe('parseBootLine: ESP32 ROM and bootloader (reference/esp-idf.md §7.1–7.2)', () => {
  it('reads the reset reason and boot mode of a power-on', () => {
    expect(parseBootLine('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)')).toEqual([
      {
        kind: 'esp32-reset',
        resetCode: 1,
        resetReason: 'POWERON_RESET',
        bootMode: 0x13,
        bootModeName: 'SPI_FAST_FLASH_BOOT',
      },
    ]);
  });

  it('reads esp_restart() as SW_CPU_RESET 0xc, not a crash', () => {
    const events = parseBootLine('rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'esp32-reset', resetCode: 12, resetReason: 'SW_CPU_RESET' });
  });

  it('reports a watchdog reset reason as a crash as well as a reset', () => {
    expect(parseBootLine('rst:0x7 (TG0WDT_SYS_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)')).toEqual([
      expect.objectContaining({ kind: 'esp32-reset', resetCode: 7 }),
      { kind: 'crash', crash: 'watchdog-reset', detail: 'TG0WDT_SYS_RESET' },
    ]);
    expect(parseBootLine('rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)')[1]).toMatchObject({
      crash: 'watchdog-reset',
    });
  });

  it('reads the loaded partition offset, with or without colour codes', () => {
    expect(parseBootLine('I (52) boot: Loaded app from partition at offset 0x110000')).toEqual([
      { kind: 'app-loaded', partitionOffset: 0x110000 },
    ]);
    expect(
      parseBootLine('\u001b[0;32mI (52) boot: Loaded app from partition at offset 0x10000\u001b[0m'),
    ).toEqual([{ kind: 'app-loaded', partitionOffset: 0x10000 }]);
  });

  it('reads the app version whatever the tag (app_init in v5.1+, cpu_start before)', () => {
    expect(parseBootLine('I (120) app_init: App version:      v2.1.0-rc1')).toEqual([
      { kind: 'app-version', version: 'v2.1.0-rc1' },
    ]);
    expect(parseBootLine('I (120) cpu_start: App version:      1.0')).toEqual([
      { kind: 'app-version', version: '1.0' },
    ]);
  });

  it('gives nothing for ordinary lines', () => {
    expect(parseBootLine('load:0x3fff0018,len:4')).toEqual([]);
    expect(parseBootLine('I (27) boot: ESP-IDF v5.2 2nd stage bootloader')).toEqual([]);
    expect(parseBootLine('')).toEqual([]);
  });
});

describe('parseBootLine: ESP8266 ROM banner and eboot (esp-idf.md §7.3, arduino-ota.md §4.7)', () => {
  it('reads rst cause and boot mode, two spaces before the 8 and a leading CR/space tolerated', () => {
    expect(parseBootLine('\r ets Jan  8 2013,rst cause:2, boot mode:(3,6)')).toEqual([
      {
        kind: 'esp8266-reset',
        resetCause: 2,
        resetCauseName: 'reset pin',
        bootMode: [3, 6],
        bootModeName: 'flash',
      },
    ]);
    expect(parseBootLine('ets Jan  8 2013,rst cause:1, boot mode:(1,7)')[0]).toMatchObject({
      resetCauseName: 'power-on',
      bootModeName: 'UART download',
    });
  });

  it('reads eboot: version, copy result with the identical-sector skip, load, load error', () => {
    expect(parseBootLine('v00000000')).toEqual([{ kind: 'eboot-version', version: '00000000' }]);
    expect(parseBootLine('@cp:0')).toEqual([
      { kind: 'eboot-copy', result: 0, skippedIdenticalSector: false },
    ]);
    expect(parseBootLine('@cp:B0')).toEqual([
      { kind: 'eboot-copy', result: 0, skippedIdenticalSector: true },
    ]);
    expect(parseBootLine('@cp:4')).toEqual([
      { kind: 'eboot-copy', result: 4, skippedIdenticalSector: false },
    ]);
    expect(parseBootLine('~ld')).toEqual([{ kind: 'eboot-load', commandFound: false }]);
    expect(parseBootLine('@ld')).toEqual([{ kind: 'eboot-load', commandFound: true }]);
    expect(parseBootLine('ld')).toEqual([{ kind: 'eboot-load', commandFound: undefined }]);
    expect(parseBootLine('e:2')).toEqual([{ kind: 'eboot-load-error', error: 2 }]);
  });
});

describe('parseBootLine: crash detection with the texts the chips print', () => {
  const crashes: Array<[string, string, string]> = [
    [
      "Guru Meditation Error: Core  1 panic'ed (LoadProhibited). Exception was unhandled.",
      'guru-meditation',
      'core 1: LoadProhibited',
    ],
    [
      "Guru Meditation Error: Core  0 panic'ed (Interrupt wdt timeout on CPU0).",
      'interrupt-watchdog',
      'core 0: Interrupt wdt timeout on CPU0',
    ],
    [
      'Guru Meditation Error of type StoreProhibited occurred on core  0. Exception was unhandled.',
      'guru-meditation',
      'core 0: StoreProhibited',
    ],
    ['abort() was called at PC 0x400d2c5b on core 0', 'abort', 'at PC 0x400d2c5b on core 0'],
    [
      'assert failed: xQueueSemaphoreTake queue.c:1545 (pxQueue->uxItemSize == 0)',
      'assert',
      'xQueueSemaphoreTake queue.c:1545 (pxQueue->uxItemSize == 0)',
    ],
    [
      'E (10234) task_wdt: Task watchdog got triggered. The following tasks did not reset the watchdog in time:',
      'task-watchdog',
      'E (10234) task_wdt: Task watchdog got triggered. The following tasks did not reset the watchdog in time:',
    ],
    ['***ERROR*** A stack overflow in task loopTask has been detected.', 'stack-overflow', 'task loopTask'],
    ['Brownout detector was triggered', 'brownout', 'Brownout detector was triggered'],
    ['Exception (28):', 'exception', 'exception cause 28'],
    ['Fatal exception (0):', 'exception', 'exception cause 0'],
    ['Soft WDT reset', 'soft-watchdog', 'Soft WDT reset'],
    ['wdt reset', 'hardware-watchdog', 'wdt reset'],
    ['User exception (panic/abort/assert)', 'abort', 'User exception (panic/abort/assert)'],
  ];
  for (const [line, kind, detail] of crashes) {
    it(`${kind}: ${line.slice(0, 60)}`, () => {
      expect(parseBootLine(line)).toEqual([{ kind: 'crash', crash: kind, detail }]);
    });
  }

  it('does not call an app line that mentions a watchdog or an exception a crash', () => {
    expect(parseBootLine('I (300) main: feeding the task watchdog')).toEqual([]);
    expect(parseBootLine('handled exception (3) in parser')).toEqual([]);
    expect(parseBootLine('wdt reset count: 0')).toEqual([]);
  });
});

describe('BootLogTracker', () => {
  it('folds an OTA reboot into two boots with their offsets and versions', () => {
    const tracker = new BootLogTracker();
    const log = [
      'ets Jun  8 2016 00:22:57',
      'rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)',
      'I (60) boot: Loaded app from partition at offset 0x10000',
      'I (90) app_init: App version:      1.0.0',
      'I (5000) ota: upgrade successful. Rebooting ...',
      'rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)',
      'I (60) boot: Loaded app from partition at offset 0x110000',
      'I (90) app_init: App version:      2.0.0',
    ];
    for (const line of log) tracker.push(line);
    expect(tracker.boots).toEqual([
      {
        platform: 'esp32',
        resetReason: 'POWERON_RESET',
        resetCode: 1,
        bootMode: 'SPI_FAST_FLASH_BOOT',
        partitionOffset: 0x10000,
        appVersion: '1.0.0',
        crashes: [],
      },
      {
        platform: 'esp32',
        resetReason: 'SW_CPU_RESET',
        resetCode: 12,
        bootMode: 'SPI_FAST_FLASH_BOOT',
        partitionOffset: 0x110000,
        appVersion: '2.0.0',
        crashes: [],
      },
    ]);
    expect(tracker.crashes).toEqual([]);
  });

  it('keeps crashes with the boot they happened in, and one seen before any reset line', () => {
    const tracker = new BootLogTracker();
    const seen: string[] = [];
    tracker.onEvent((event) => seen.push(event.kind));
    tracker.push('Exception (3):');
    tracker.push(' ets Jan  8 2013,rst cause:4, boot mode:(3,6)');
    tracker.push('wdt reset');
    tracker.push('@cp:B0');
    tracker.push('e:3');
    expect(tracker.boots.map((boot) => boot.platform)).toEqual(['unknown', 'esp8266']);
    expect(tracker.boots[0]?.crashes.map((c) => c.crash)).toEqual(['exception']);
    expect(tracker.current).toMatchObject({
      resetReason: 'watchdog reset',
      ebootCopyResult: 0,
      ebootLoadError: 3,
      crashes: [{ crash: 'hardware-watchdog' }],
    });
    expect(seen).toEqual(['crash', 'esp8266-reset', 'crash', 'eboot-copy', 'eboot-load-error']);
  });
});
