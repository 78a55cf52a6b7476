import { describe, expect, it } from 'vitest';
import { type ConsoleLine, parseBootLine } from '../../../drivers/serial/index.ts';
import { SKETCH_BOOT_LINES, UPDATE_FAILED_LINES, updateFailedPatterns } from './boot-lines.ts';
import { BootWatch, type WatchedConsole } from './boot-watch.ts';

/** A console fed by the test: the lines the serial driver would keep, with its boot events. */
class FakeConsole implements WatchedConsole {
  private readonly kept: ConsoleLine[] = [];
  private readonly listeners = new Set<(line: ConsoleLine) => void>();

  push(...texts: string[]): void {
    for (const text of texts) {
      const line: ConsoleLine = {
        index: this.kept.length,
        text,
        atMs: Date.now(),
        source: 'device',
        events: parseBootLine(text),
      };
      this.kept.push(line);
      for (const listener of this.listeners) listener(line);
    }
  }

  lines(): readonly ConsoleLine[] {
    return this.kept;
  }

  onLine(listener: (line: ConsoleLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

// Lines as reference/esp-idf.md §7.1–7.2 and §7.3 / arduino-ota.md §4.7 give them.
const ESP32_POWER_ON = 'rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)';
const ESP32_SOFTWARE = 'rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)';
const esp32Boot = (reset: string, offset: string, version: string) => [
  'ets Jun  8 2016 00:22:57',
  reset,
  `I (45) boot: Loaded app from partition at offset ${offset}`,
  'I (60) app_init: Application information:',
  `I (61) app_init: App version:      ${version}`,
];

describe('BootWatch', () => {
  it('after the device says it failed, waits only the grace for a reboot, and still sees one inside it', async () => {
    const console = new FakeConsole();
    const watch = BootWatch.start(console, []);
    let said: () => void = () => {};
    const failed = new Promise<void>((resolve) => {
      said = resolve;
    });
    const started = performance.now();
    const waiting = watch.next({
      timeoutMs: 10_000,
      step: 'reboot after the download',
      shorten: { when: failed, graceMs: 50 },
    });
    said();
    await expect(waiting).rejects.toThrow(/no boot within 50 ms of the device saying it failed/);
    expect(performance.now() - started).toBeLessThan(5_000);

    // A reboot that comes inside the grace is still the boot next() returns.
    let saidAgain: () => void = () => {};
    const failedAgain = new Promise<void>((resolve) => {
      saidAgain = resolve;
    });
    const rebooting = watch.next({
      timeoutMs: 10_000,
      step: 'reboot after the download',
      shorten: { when: failedAgain, graceMs: 2_000 },
    });
    saidAgain();
    setTimeout(() => console.push(...esp32Boot(ESP32_SOFTWARE, '0x10000', '1.0.0')), 20);
    await expect(rebooting).resolves.toMatchObject({ version: '1.0.0', software: true });
    watch.stop();
  });

  it("knows the reference examples' update-failed lines, and a rig's own pattern first", () => {
    const esp = UPDATE_FAILED_LINES['esp-https-ota']!;
    for (const line of [
      'E (12345) advanced_https_ota_example: ESP_HTTPS_OTA upgrade failed 0x1503',
      'E (12345) advanced_https_ota_example: ESP_HTTPS_OTA upgrade failed',
      'E (12345) advanced_https_ota_example: ESP HTTPS OTA Begin failed',
      'E (12345) simple_ota_example: Firmware upgrade failed',
    ])
      expect(
        esp.some((pattern) => pattern.test(line)),
        line,
      ).toBe(true);
    const http = UPDATE_FAILED_LINES['http-update']!;
    expect(http.some((pattern) => pattern.test('HTTP_UPDATE_FAILD Error (-100): Wrong HTTP Code'))).toBe(
      true,
    );
    expect(
      http.some((pattern) => pattern.test('HTTP_UPDATE_FAILED Error (12): Verify Bin Header Failed')),
    ).toBe(true);
    expect(
      esp.some((pattern) =>
        pattern.test('I (1) advanced_https_ota_example: ESP_HTTPS_OTA upgrade successful'),
      ),
    ).toBe(false);
    const lua = UPDATE_FAILED_LINES.luartos!;
    for (const line of [
      'Failed, error 5379',
      'Failed',
      'Chunk written unsuccessfully in partition (offset 0x00110000), error 5379',
    ])
      expect(
        lua.some((pattern) => pattern.test(line)),
        line,
      ).toBe(true);
    // A refused boot partition still restarts (net.c 531), and these are progress, not failure.
    for (const line of ['Failed, err 5378', 'Chunk written successfully in partition at offset 0x00110000'])
      expect(
        lua.some((pattern) => pattern.test(line)),
        line,
      ).toBe(false);
    const own = updateFailedPatterns({
      profile: 'web-update',
      description: { options: { updateFailedPattern: '^Update error' } } as never,
    });
    expect(own.map(String)).toEqual(['/^Update error/']);
    const first = updateFailedPatterns({
      profile: 'luartos',
      description: { options: { updateFailedPattern: '^net.ota' } } as never,
    });
    expect(first.map(String)).toEqual(['/^net.ota/', ...lua.map(String)]);
  });

  it('reads an ESP32 boot: reset reason, partition offset and App version', async () => {
    const console = new FakeConsole();
    const watch = BootWatch.start(console, []);
    console.push(...esp32Boot(ESP32_POWER_ON, '0x110000', '2.0.1'));
    const boot = await watch.next({ timeoutMs: 100, step: 'boot' });
    expect(boot).toMatchObject({
      platform: 'esp32',
      resetCode: 1,
      software: false,
      partitionOffset: 0x110000,
      version: '2.0.1',
    });
    watch.stop();
  });

  it('tells a software restart from a power-on and skips boots that do not pass the filter', async () => {
    const console = new FakeConsole();
    const watch = BootWatch.start(console, []);
    console.push(...esp32Boot(ESP32_SOFTWARE, '0x10000', 'restarted'));
    console.push(...esp32Boot(ESP32_POWER_ON, '0x190000', 'powered'));
    const boot = await watch.next({ timeoutMs: 100, step: 'power-on', accept: (seen) => !seen.software });
    expect(boot.version).toBe('powered');
    expect(watch.boots.map((seen) => seen.software)).toEqual([true, false]);
    watch.stop();
  });

  it("reads an ESP8266 sketch's version from the profile's own line, after eboot's copy", async () => {
    const console = new FakeConsole();
    const watch = BootWatch.start(console, SKETCH_BOOT_LINES['arduino-ota']);
    console.push(
      ' ets Jan  8 2013,rst cause:1, boot mode:(3,6)',
      'v000a3a10',
      '@cp:0',
      'ld',
      'Booting ota-conformance 3.1.4',
      'Ready',
    );
    const boot = await watch.next({ timeoutMs: 100, step: 'boot' });
    expect(boot).toMatchObject({
      platform: 'esp8266',
      resetCode: 1,
      ebootCopy: 0,
      version: '3.1.4',
      project: 'ota-conformance',
    });
    watch.stop();
  });

  it('never returns a boot that died before naming its app, and times out naming what it saw', async () => {
    const console = new FakeConsole();
    const watch = BootWatch.start(console, SKETCH_BOOT_LINES['web-update']);
    console.push('ets Jan  8 2013,rst cause:3, boot mode:(3,6)', 'v000a3a10');
    await expect(watch.next({ timeoutMs: 30, step: 'boot' })).rejects.toThrow(
      /software reset \(software\) → no app named/,
    );
    expect(await watch.whenBooting(10)).toBe(true);
    console.push('ets Jan  8 2013,rst cause:1, boot mode:(3,6)', 'Sketch ota-conformance version 9.9.9');
    await expect(watch.next({ timeoutMs: 100, step: 'boot' })).resolves.toMatchObject({ version: '9.9.9' });
    watch.stop();
  });

  it('starts from a given line and ignores lines of a boot whose reset it did not see', async () => {
    const console = new FakeConsole();
    console.push('I (61) app_init: App version:      before-the-watch');
    const mark = console.lines().length;
    console.push(...esp32Boot(ESP32_POWER_ON, '0x10000', 'seen'));
    const watch = BootWatch.start(console, [], 0);
    expect(watch.boots.map((boot) => boot.version)).toEqual(['seen']);
    expect(watch.boots[0]?.fromLine).toBe(mark + 1);
    expect(await BootWatch.start(console, []).whenBooting(10)).toBe(false);
    watch.stop();
  });

  it('a rig-given pattern for an unknown app line names the version', async () => {
    const console = new FakeConsole();
    const watch = BootWatch.start(console, [/^my-sketch v(?<version>\S+)/]);
    console.push('ets Jan  8 2013,rst cause:2, boot mode:(3,6)', 'my-sketch v1.2.3');
    await expect(watch.next({ timeoutMs: 100, step: 'boot' })).resolves.toMatchObject({
      version: '1.2.3',
      software: false,
    });
    watch.stop();
  });
});
