import { afterEach, describe, expect, it } from 'vitest';
import { DeviceConsole } from '../../emulators/console/index.ts';
import { SerialConsole } from './serial-console.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('serial console over raw TCP (a networked serial server, an emulator console in tcp mode)', () => {
  it('reads the lines the device prints after connecting, sends input, and names the step on a timeout', async () => {
    const device = new DeviceConsole({ mode: 'tcp' });
    await device.start();
    cleanups.push(() => device.stop());
    expect(device.port).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    device.line('printed before anyone listened');
    const console = await SerialConsole.open({
      path: device.port!,
      baudRate: 115200,
      targetName: 'tcp-board',
    });
    cleanups.push(() => console.close());
    const typed: string[] = [];
    device.onInput((data) => typed.push(data.toString()));

    device.line('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
    const match = await console.expect(/rst:0x(\w+) \((\w+)\)/, { timeoutMs: 2000, step: 'power-on' });
    expect(match.match?.[2]).toBe('POWERON_RESET');
    await console.write('ota check\n');
    await expect.poll(() => typed.join('')).toBe('ota check\n');
    expect(console.lines().map((line) => line.text)).not.toContain('printed before anyone listened');
    await expect(
      console.expect('never printed', { timeoutMs: 150, step: 'wait for nothing' }),
    ).rejects.toThrow(/tcp-board.*wait for nothing/s);
  });

  it('reopens when the console server drops the connection and comes back on the same address', async () => {
    const device = new DeviceConsole({ mode: 'tcp' });
    await device.start();
    cleanups.push(() => device.stop());
    const console = await SerialConsole.open({
      path: device.port!,
      baudRate: 115200,
      targetName: 'tcp-board',
    });
    cleanups.push(() => console.close());
    device.line('first');
    await console.expect('first', { timeoutMs: 2000, step: 'first line' });
    // The server side hangs up (a ser2net restart): the driver reconnects and keeps reading.
    (device as unknown as { tcp: { clients: Set<import('node:net').Socket> } }).tcp.clients.forEach((c) => {
      c.destroy();
    });
    await expect
      .poll(() => console.lines().some((line) => line.text.includes('[console reopened]')), {
        timeout: 5000,
      })
      .toBe(true);
    device.line('second');
    await console.expect('second', { timeoutMs: 2000, step: 'after reopen' });
  });
});
