import { execFileSync } from 'node:child_process';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import type { StartedEmulator } from '../../start-emulator.ts';
import { ConnectionDroppedError } from './raw-http-client.test-support.ts';
import {
  type Booted,
  boot,
  bootsSeen,
  consoleAppVersion,
  image,
  pushImage,
  sha256Hex,
  TOKEN,
  waitForReboot,
} from './viperhttp-test-kit.test-support.ts';

const started: StartedEmulator[] = [];
afterEach(async () => {
  for (const emulator of started.splice(0)) await emulator.stop();
});

function pair(defect: string): Promise<[Booted, Booted]> {
  return Promise.all([
    boot(started, { profile: 'viperhttp' }),
    boot(started, { profile: 'viperhttp', defects: [defect] }),
  ]);
}

/** Pushes, finalizes with reboot, waits for the boot; returns the running slot label. */
async function updateAndReboot(device: Booted, bytes: Uint8Array): Promise<string> {
  await pushImage(device, bytes);
  const before = bootsSeen(device.emulator);
  await expect(device.post('/ota/finalize', { reboot: true })).rejects.toBeInstanceOf(ConnectionDroppedError);
  return ((await waitForReboot(device, before)).json() as { running_partition: { label: string } })
    .running_partition.label;
}

async function reboot(device: Booted): Promise<void> {
  const before = bootsSeen(device.emulator);
  await device.post('/debug/reboot', { delay_ms: 1 });
  await waitForReboot(device, before);
}

describe('viperhttp defects, each beside the conforming device', () => {
  it('accepts-any-token: a wrong X-OTA-Token passes', async () => {
    const [good, bad] = await pair('accepts-any-token');
    const wrong = { 'X-OTA-Token': 'guess' };
    expect((await good.get('/ota/status', wrong)).status).toBe(401);
    expect((await bad.get('/ota/status', wrong)).status).toBe(200);
  });

  it('status-without-token: GET /ota/status answers without a token, other routes still refuse', async () => {
    const [good, bad] = await pair('status-without-token');
    expect((await good.get('/ota/status', {})).status).toBe(401);
    expect((await bad.get('/ota/status', {})).status).toBe(200);
    expect((await bad.post('/ota/abort', {}, {})).status).toBe(401);
  });

  it('accepts-bearer: Authorization: Bearer <token> is taken as the token', async () => {
    const [good, bad] = await pair('accepts-bearer');
    const bearer = { authorization: `Bearer ${TOKEN}` };
    expect((await good.get('/ota/status', bearer)).status).toBe(401);
    expect((await bad.get('/ota/status', bearer)).status).toBe(200);
  });

  it('accepts-bad-sha: finalize with a mismatching expected_sha256 succeeds and the image boots', async () => {
    const [good, bad] = await pair('accepts-bad-sha');
    const update = image('1.1.0');
    const wrong = sha256Hex(image('6.6.6'));
    for (const device of [good, bad]) await pushImage(device, update, { sha: wrong });
    expect((await good.post('/ota/finalize', {})).status).toBe(409);
    expect((await bad.post('/ota/finalize', {})).status).toBe(200);
    await reboot(good);
    await reboot(bad);
    expect(consoleAppVersion(good.emulator)).toBe('1.0.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.1.0');
  });

  it('commits-before-verifying: the 409 is answered, but the mismatching image boots next', async () => {
    const [good, bad] = await pair('commits-before-verifying');
    const update = image('1.1.0');
    const wrong = sha256Hex(image('6.6.6'));
    for (const device of [good, bad]) {
      await pushImage(device, update, { sha: wrong });
      expect((await device.post('/ota/finalize', {})).json()).toEqual({ detail: 'sha256 mismatch' });
    }
    const status = async (device: Booted) =>
      ((await device.get('/ota/status')).json() as { boot_partition: { label: string } }).boot_partition
        .label;
    expect(await status(good)).toBe('ota_0');
    expect(await status(bad)).toBe('ota_1');
    await reboot(good);
    await reboot(bad);
    expect(consoleAppVersion(good.emulator)).toBe('1.0.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.1.0');
  });

  it('allows-second-session: begin without force replaces the active session', async () => {
    const [good, bad] = await pair('allows-second-session');
    for (const device of [good, bad]) await device.post('/ota/begin', {});
    expect((await good.post('/ota/begin', {})).status).toBe(409);
    const second = await bad.post('/ota/begin', {});
    expect(second.status).toBe(200);
    expect((second.json() as { session: { id: number } }).session.id).toBe(2);
  });

  it('ignores-offset: a chunk at the wrong offset is appended', async () => {
    const [good, bad] = await pair('ignores-offset');
    for (const device of [good, bad]) {
      await device.post('/ota/begin', {});
      await device.post('/ota/chunk?offset=0', Buffer.from('abcd'));
    }
    expect((await good.post('/ota/chunk?offset=0', Buffer.from('abcd'))).status).toBe(409);
    const appended = await bad.post('/ota/chunk?offset=0', Buffer.from('abcd'));
    expect((appended.json() as { session: { written_bytes: number } }).session.written_bytes).toBe(8);
  });

  it('never-rolls-back: an image nobody marked valid survives the next reset', async () => {
    const [good, bad] = await pair('never-rolls-back');
    for (const device of [good, bad]) {
      expect(await updateAndReboot(device, image('1.1.0'))).toBe('ota_1');
      await reboot(device);
    }
    expect(consoleAppVersion(good.emulator)).toBe('1.0.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.1.0');
  });

  it('otadata-in-place: the second update is lost because its otadata entry is ANDed over the first boot’s', async () => {
    const [good, bad] = await pair('otadata-in-place');
    for (const device of [good, bad]) {
      expect(await updateAndReboot(device, image('1.1.0'))).toBe('ota_1');
      expect((await device.post('/ota/mark-valid', {})).status).toBe(200);
      await updateAndReboot(device, image('1.2.0', 24 * 1024, 8));
    }
    expect(consoleAppVersion(good.emulator)).toBe('1.2.0');
    expect(consoleAppVersion(bad.emulator)).toBe('1.1.0');
  });
});

function socatInstalled(): boolean {
  try {
    execFileSync('which', ['socat'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('viperhttp console on a pseudo-terminal', () => {
  it.skipIf(!socatInstalled())(
    'prints the boot log of the updated image to a serial port at 115200',
    async () => {
      const device = await boot(started, { profile: 'viperhttp', console: 'pty' });
      const path = device.emulator.endpoints().console!;
      const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
      const received: Buffer[] = [];
      port.on('data', (chunk: Buffer) => received.push(chunk));
      try {
        const deadline = Date.now() + 3000;
        while (!device.emulator.device.console.readerAttached && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        await updateAndReboot(device, image('1.1.0'));
        const text = () => Buffer.concat(received).toString('latin1');
        while (
          !/SW_CPU_RESET[\s\S]*viperhttp: OTA routes at \/ota/.test(text()) &&
          Date.now() < deadline + 2000
        ) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        const afterReset = text().slice(
          text().indexOf('rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n'),
        );
        expect(afterReset.startsWith('rst:0xc')).toBe(true);
        expect(afterReset).toMatch(/I \(\d+\) app_init: App version:\s+1\.1\.0\r\n/);
        expect(afterReset).toMatch(/Loaded app from partition at offset 0x190000/);
        expect(afterReset).toMatch(/viperhttp: OTA routes at \/ota on port \d+\r\n/);
        // The first boot, before the update, ran 1.0.0 from ota_0.
        expect(text().slice(0, text().indexOf('rst:0xc'))).toMatch(/App version:\s+1\.0\.0\r\n/);
      } finally {
        await new Promise<void>((resolve) => port.close(() => resolve()));
      }
    },
  );
});
