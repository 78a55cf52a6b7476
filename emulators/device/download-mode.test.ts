import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceConsole } from '../console/index.ts';
import { firmwareFor } from '../firmware/index.ts';
import { EmulatedDevice } from './emulated-device.ts';

let device: EmulatedDevice | undefined;
afterEach(async () => {
  await device?.shutdown();
  device = undefined;
});

async function poweredEsp32(): Promise<EmulatedDevice> {
  const console = new DeviceConsole();
  await console.start();
  device = new EmulatedDevice({ name: 'dl', platform: 'esp32', firmware: firmwareFor('viperhttp'), console });
  await device.powerOn();
  return device;
}

const set = (target: EmulatedDevice, dtr: boolean, rts: boolean) => target.setModemLines({ dtr, rts });

describe('download mode through DTR/RTS (reference/esp-serial-flasher.md §1.2-1.4)', () => {
  it('esptool-js ClassicReset (both lines in one call) lands in the ROM loader with its banner', async () => {
    const chip = await poweredEsp32();
    expect(chip.state).toBe('running');
    await set(chip, false, true);
    expect(chip.state).toBe('reset');
    await sleep(100);
    await set(chip, true, false);
    await sleep(50);
    await set(chip, false, false);
    await expect.poll(() => chip.state).toBe('download');
    const printed = chip.console.lines().map((line) => line.text);
    expect(printed).toContain(
      'rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))',
    );
    expect(printed.at(-1)).toBe('waiting for download');
  });

  it("esptool's ClassicReset passes through 'both asserted' and still lands in download mode (T9)", async () => {
    const chip = await poweredEsp32();
    await set(chip, false, false);
    await set(chip, false, true); // D=0, R=1: EN low
    await sleep(100);
    await set(chip, true, true); // D=1 while R=1: EN rises for an instant with IO0 high
    await set(chip, true, false); // R=0: IO0 low
    await sleep(50);
    await set(chip, false, false);
    await expect.poll(() => chip.state).toBe('download');
  });

  it('a hard reset (RTS pulse, DTR released) boots the app from flash', async () => {
    const chip = await poweredEsp32();
    const bootsBefore = chip.boots;
    await set(chip, false, true);
    await sleep(100);
    await set(chip, false, false);
    await expect.poll(() => chip.state).toBe('running');
    expect(chip.boots).toBe(bootsBefore + 1);
    expect(chip.running?.version).toBe('1.0.0');
  });

  it('leaves download mode by a hard reset into the app', async () => {
    const chip = await poweredEsp32();
    await set(chip, true, false); // IO0 low, EN high: nothing yet (EN did not rise)
    expect(chip.state).toBe('running');
    await set(chip, false, true);
    await set(chip, true, false);
    await expect.poll(() => chip.state).toBe('download');
    await set(chip, false, true);
    await sleep(20);
    await set(chip, false, false);
    await expect.poll(() => chip.state).toBe('running');
  });
});
