import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { esp32RomLines } from '../../emulators/boot/index.ts';
import { DeviceConsole } from '../../emulators/console/index.ts';
import { socatMissing } from '../../emulators/console/socat.test-support.ts';
import {
  ConsoleClosedError,
  ConsoleDeviceCrashedError,
  ConsoleLostError,
  ConsoleOpenError,
  ConsoleTimeoutError,
  ConsoleUnexpectedLineError,
  SerialConsole,
} from './index.ts';
import { MAX_CONSOLE_LINE_CHARS } from './serial-console.ts';

// Every test talks to the device's console through a real transport: a TCP console (how a lab's
// networked serial server offers a UART, and how the run reaches emulators) everywhere, and a real
// pseudo-terminal made by socat, the way a board's USB-serial port is reached, where socat is
// installed. Nothing here goes through the emulator's in-process line history.
let device: DeviceConsole;
let opened: SerialConsole[] = [];

/** Starts a device console in `mode` before each test of the enclosing describe, and stops it after. */
function withDeviceConsole(mode: 'tcp' | 'pty'): void {
  beforeEach(async (context) => {
    opened = [];
    if (mode === 'pty' && socatMissing !== undefined) {
      context.skip(socatMissing);
      return;
    }
    device = new DeviceConsole({ mode });
    await device.start();
  });
  afterEach(async () => {
    for (const console of opened) await console.close();
    await device?.stop();
  });
}

async function openConsole(
  options: Partial<Parameters<typeof SerialConsole.open>[0]> = {},
): Promise<SerialConsole> {
  const console = await SerialConsole.open({
    path: device.port!,
    baudRate: 115_200,
    targetName: 'bench-esp32-1',
    ...options,
  });
  opened.push(console);
  // Output sent before the device side noticed the open is held briefly (PTY) or not sent at all
  // (TCP, like ser2net): wait until it relays for real.
  for (let attempt = 0; attempt < 100 && !device.readerAttached; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return console;
}

describe.each([
  { transport: 'a TCP console (tcp://)', mode: 'tcp' as const },
  { transport: 'a real PTY (socat)', mode: 'pty' as const },
])('over $transport', ({ mode }) => {
  withDeviceConsole(mode);

  describe('SerialConsole: lines and the boot log', () => {
    it('reads an ESP32 power-on boot and tracks reset reason, partition offset and app version', async () => {
      const console = await openConsole();
      for (const line of esp32RomLines('POWERON_RESET')) device.line(line);
      device.line('\u001b[0;32mI (60) boot: Loaded app from partition at offset 0x110000\u001b[0m');
      device.line('I (95) app_init: App version:      2.4.1');

      const version = await console.expect(/App version:\s+(?<version>\S+)/, {
        timeoutMs: 2_000,
        step: 'wait for the app to report its version',
      });
      expect(version.groups).toEqual({ version: '2.4.1' });
      expect(version.match[1]).toBe('2.4.1');
      expect(console.boot.current).toMatchObject({
        platform: 'esp32',
        resetReason: 'POWERON_RESET',
        resetCode: 1,
        bootMode: 'SPI_FAST_FLASH_BOOT',
        partitionOffset: 0x110000,
        appVersion: '2.4.1',
        crashes: [],
      });
      const texts = console.lines().map((line) => line.text);
      expect(texts).toContain('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
      for (const line of console.lines()) expect(line.atMs).toBeGreaterThan(0);
    });

    it('reads the ESP8266 banner behind its CR noise and eboot lines written in pieces', async () => {
      const console = await openConsole({ encoding: 'latin1' });
      device.write(new Uint8Array([0xf0, 0x8c, 0x0d, 0x0a]));
      device.write('\r ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nv00000000\n@cp:');
      await new Promise((resolve) => setTimeout(resolve, 20));
      device.write('B0\nld\n');
      await console.expect('ld', { timeoutMs: 2_000, step: 'wait for eboot to load the app' });
      expect(console.boot.current).toMatchObject({
        platform: 'esp8266',
        resetReason: 'reset pin',
        bootMode: 'flash',
        ebootCopyResult: 0,
      });
      // Baud-rate garbage stays visible byte for byte instead of turning into U+FFFD.
      expect(console.lines()[0]?.text).toBe('\u00f0\u008c');
    });

    it('a line the device never ends is kept in marked pieces of MAX_CONSOLE_LINE_CHARS; the next line is whole', async () => {
      const console = await openConsole();
      const dots = '.'.repeat(MAX_CONSOLE_LINE_CHARS * 2 + 100);
      device.write(dots);
      device.line(' done');
      device.line('I (95) app_init: App version:      2.4.1');
      await console.expect(/App version/, { timeoutMs: 2_000, step: 'the line after the dots' });
      const texts = console.lines().map((line) => line.text);
      expect(texts.slice(-4)).toEqual([
        `${'.'.repeat(MAX_CONSOLE_LINE_CHARS)} [line cut: no newline within ${MAX_CONSOLE_LINE_CHARS} characters]`,
        `${'.'.repeat(MAX_CONSOLE_LINE_CHARS)} [line cut: no newline within ${MAX_CONSOLE_LINE_CHARS} characters]`,
        `${'.'.repeat(100)} done`,
        'I (95) app_init: App version:      2.4.1',
      ]);
    });

    it('expect() consumes: the same text twice needs two lines, and a string is matched literally', async () => {
      const console = await openConsole();
      device.line('OTA progress (50%) [a+b]');
      device.line('OTA progress (50%) [a+b]');
      const first = await console.expect('(50%) [a+b]', { timeoutMs: 2_000, step: 'first progress line' });
      const second = await console.expect('(50%) [a+b]', { timeoutMs: 2_000, step: 'second progress line' });
      expect(second.line.index).toBe(first.line.index + 1);
      await expect(
        console.expect('(50%) [a+b]', { timeoutMs: 150, step: 'a third that never comes' }),
      ).rejects.toBeInstanceOf(ConsoleTimeoutError);
    });

    it('expect() with fromNow ignores lines already received', async () => {
      const console = await openConsole();
      device.line('ready');
      await console.expect('ready', { timeoutMs: 2_000, step: 'first ready' });
      device.line('old news');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const waiting = console.expect('news', { timeoutMs: 2_000, step: 'fresh news', fromNow: true });
      device.line('fresh news');
      expect((await waiting).line.text).toBe('fresh news');
    });
  });

  describe('SerialConsole timeouts name the target and the step and never hang', () => {
    it('a silent device fails expect() at its timeout with target, step, pattern and the last lines', async () => {
      const console = await openConsole();
      device.line('I (100) wifi: connected');
      device.line('I (120) main: token=s3cr3t-token');
      await console.expect('main:', { timeoutMs: 2_000, step: 'boot' });
      const startedAt = Date.now();
      const error = await console
        .expect(/Loaded app from partition/, { timeoutMs: 300, step: 'wait for the new image to boot' })
        .catch((caught: unknown) => caught);
      const elapsedMs = Date.now() - startedAt;
      expect(error).toBeInstanceOf(ConsoleTimeoutError);
      const timeout = error as ConsoleTimeoutError;
      expect(timeout.code).toBe('CONSOLE_TIMEOUT');
      expect(timeout.message).toContain("target 'bench-esp32-1'");
      expect(timeout.message).toContain("step 'wait for the new image to boot'");
      expect(timeout.message).toContain('/Loaded app from partition/');
      expect(timeout.message).toContain('| I (100) wifi: connected');
      expect(timeout.lastLines).toEqual(['I (100) wifi: connected', 'I (120) main: token=s3cr3t-token']);
      expect(elapsedMs).toBeGreaterThanOrEqual(290);
      expect(elapsedMs).toBeLessThan(2_000);
    });

    it('the same wait succeeds when the line comes before the timeout', async () => {
      const console = await openConsole();
      const waiting = console.expect(/Loaded app from partition at offset 0x([0-9a-f]+)/, {
        timeoutMs: 2_000,
        step: 'wait for the new image to boot',
      });
      setTimeout(() => device.line('I (60) boot: Loaded app from partition at offset 0x210000'), 50);
      expect((await waiting).match[1]).toBe('210000');
    });

    it('quotes console lines in errors through the redactor', async () => {
      const console = await openConsole({ redact: (text) => text.replaceAll('s3cr3t-token', '[REDACTED]') });
      device.line('I (120) main: token=s3cr3t-token');
      await console.expect('token=', { timeoutMs: 2_000, step: 'token line' });
      const error = (await console
        .expect('never', { timeoutMs: 50, step: 'redaction' })
        .catch((caught: unknown) => caught)) as ConsoleTimeoutError;
      expect(error.message).toContain('token=[REDACTED]');
      expect(error.message).not.toContain('s3cr3t-token');
    });

    it('failOnCrash ends a wait at the panic line instead of at the timeout', async () => {
      const console = await openConsole();
      const startedAt = Date.now();
      const waiting = console.expect('upgrade successful', {
        timeoutMs: 5_000,
        step: 'wait for the OTA to finish',
        failOnCrash: true,
      });
      device.line("Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.");
      const error = (await waiting.catch((caught: unknown) => caught)) as ConsoleDeviceCrashedError;
      expect(error).toBeInstanceOf(ConsoleDeviceCrashedError);
      expect(error.code).toBe('CONSOLE_DEVICE_CRASHED');
      expect(error.crash).toMatchObject({ crash: 'guru-meditation', detail: 'core 0: LoadProhibited' });
      expect(error.message).toContain("step 'wait for the OTA to finish'");
      expect(Date.now() - startedAt).toBeLessThan(2_000);
      expect(console.boot.crashes).toHaveLength(1);
    });

    it('close() ends a pending wait at once with ConsoleClosedError', async () => {
      const console = await openConsole();
      const waiting = console
        .expect('never', { timeoutMs: 10_000, step: 'closed under it' })
        .catch((caught: unknown) => caught);
      await console.close();
      expect(await waiting).toBeInstanceOf(ConsoleClosedError);
    });
  });

  describe('SerialConsole.expectNot', () => {
    it('rejects as soon as the forbidden line appears', async () => {
      const console = await openConsole();
      const startedAt = Date.now();
      const watching = console.expectNot(/Guru Meditation|Soft WDT reset/, {
        forMs: 5_000,
        step: 'no crash while idle',
      });
      setTimeout(() => device.line('Soft WDT reset'), 30);
      const error = (await watching.catch((caught: unknown) => caught)) as ConsoleUnexpectedLineError;
      expect(error).toBeInstanceOf(ConsoleUnexpectedLineError);
      expect(error.code).toBe('CONSOLE_UNEXPECTED_LINE');
      expect(error.message).toContain("step 'no crash while idle'");
      expect(error.line).toBe('Soft WDT reset');
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    });

    it('resolves after forMs when the line does not appear, and leaves other lines to expect()', async () => {
      const console = await openConsole();
      const watching = console.expectNot('Guru Meditation', { forMs: 150, step: 'no crash while idle' });
      device.line('I (500) main: heartbeat');
      await watching;
      expect((await console.expect('heartbeat', { timeoutMs: 500, step: 'heartbeat' })).line.text).toBe(
        'I (500) main: heartbeat',
      );
    });
  });

  describe('SerialConsole write and log', () => {
    it('write() reaches the device RX', async () => {
      const console = await openConsole();
      const received: Buffer[] = [];
      device.onInput((data) => received.push(data));
      await console.write('ota http://127.0.0.1:8070/fw.bin\n');
      for (let attempt = 0; attempt < 100 && Buffer.concat(received).length < 33; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(Buffer.concat(received).toString()).toBe('ota http://127.0.0.1:8070/fw.bin\n');
    });

    it('saveLog() writes every line with its timestamp, through the redactor', async () => {
      const directory = await mkdtemp(join(tmpdir(), 'serial-log-'));
      try {
        const console = await openConsole();
        device.line('I (10) main: connecting with password hunter2-wifi');
        device.line('I (20) main: done');
        await console.expect('done', { timeoutMs: 2_000, step: 'log lines' });
        const file = join(directory, 'nested', 'console.log');
        await console.saveLog(file, (text) => text.replaceAll('hunter2-wifi', '***'));
        const saved = await readFile(file, 'utf8');
        expect(saved).not.toContain('hunter2-wifi');
        expect(saved).toMatch(
          /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z I \(10\) main: connecting with password \*\*\*\n.*Z I \(20\) main: done\n$/,
        );
        // Without a redactor the log is saved as received.
        await console.saveLog(join(directory, 'raw.log'));
        expect(await readFile(join(directory, 'raw.log'), 'utf8')).toContain('hunter2-wifi');
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });
  });
});

describe('SerialConsole opening a port that does not exist', () => {
  it('opening a port that does not exist fails within openTimeoutMs, naming target and path', async () => {
    const startedAt = Date.now();
    const error = (await SerialConsole.open({
      path: join(tmpdir(), 'no-such-tty-for-ota-conformance'),
      baudRate: 115_200,
      targetName: 'bench-esp8266-2',
      openTimeoutMs: 200,
    }).catch((caught: unknown) => caught)) as ConsoleOpenError;
    expect(error).toBeInstanceOf(ConsoleOpenError);
    expect(error.code).toBe('CONSOLE_OPEN');
    expect(error.message).toContain("target 'bench-esp8266-2'");
    expect(error.message).toContain('no-such-tty-for-ota-conformance');
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });
});

describe('SerialConsole reopens when the port vanishes and comes back (real PTY)', () => {
  withDeviceConsole('pty');

  it('survives the PTY being torn down and re-created at the same path, with a marker line', async () => {
    const console = await openConsole();
    device.line('before the port vanished');
    await console.expect('before', { timeoutMs: 2_000, step: 'before' });
    const waiting = console.expect('after the port came back', {
      timeoutMs: 5_000,
      step: 'wait across a re-enumeration',
    });
    // Like a USB-serial adapter re-enumerating: the node disappears and a new one appears.
    process.kill(device.ptyProcessId!, 'SIGTERM');
    await console.expect('never printed', { timeoutMs: 0, step: 'let the reopen run' }).catch(() => {});
    for (let attempt = 0; attempt < 200 && console.reopens === 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(console.reopens).toBe(1);
    for (let attempt = 0; attempt < 100 && !device.readerAttached; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    device.line('after the port came back');
    await waiting;
    const markers = console
      .lines()
      .filter((line) => line.source === 'driver')
      .map((line) => line.text);
    expect(markers.at(-1)).toBe('[console reopened]');
    expect(markers[0]).toMatch(/^\[console lost: /);
    expect(console.log()).toMatch(/Z \[console reopened\]\n/);
  });

  it('with reopen off, a pending wait ends with ConsoleLostError naming the target, not at its timeout', async () => {
    const console = await openConsole({ reopen: false });
    const startedAt = Date.now();
    const waiting = console.expect('never', { timeoutMs: 10_000, step: 'wait while the cable is pulled' });
    process.kill(device.ptyProcessId!, 'SIGTERM');
    const error = (await waiting.catch((caught: unknown) => caught)) as ConsoleLostError;
    expect(error).toBeInstanceOf(ConsoleLostError);
    expect(error.code).toBe('CONSOLE_LOST');
    expect(error.message).toContain("target 'bench-esp32-1'");
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(console.isOpen).toBe(false);
  });

  it('opens again right after a close, while socat is replacing the PTY', async () => {
    const first = await openConsole();
    await first.close();
    const second = await openConsole();
    device.line('second session');
    await second.expect('second session', { timeoutMs: 2_000, step: 'second session' });
  });
});
