import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../emulators/index.ts';
import { readOtadata } from '../../emulators/otadata/index.ts';
import { describeWithVectors, readVector } from '../../fixtures/golden-vectors.test-support.ts';
import { controlPlaneLines } from './control-plane-lines.ts';
import { EspFlasher } from './esp-flasher.ts';
import { decodeFlash } from './flash-report.ts';

const TOKEN = 'ota-e2e-token';

let emulator: StartedEmulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

/** One request on its own connection (ViperHTTP serves 16 per connection, then closes it). */
function post(url: string, body: Uint8Array | string, type: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method: 'POST',
      agent: false,
      headers: { 'X-OTA-Token': TOKEN, 'content-type': type, 'content-length': Buffer.byteLength(body) },
    });
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** v1.1.0 pushed through the device's own OTA API (ViperHTTP begin/chunk/finalize), as a lab update would. */
async function updateThroughTheDevice(base: string): Promise<void> {
  const appV11 = readVector('esp32-app-v1.1.0.bin');
  const sha = createHash('sha256').update(appV11).digest('hex');
  const json = 'application/json';
  expect(
    await post(
      `${base}/ota/begin`,
      JSON.stringify({ expected_size: appV11.length, expected_sha256: sha }),
      json,
    ),
  ).toBe(200);
  for (let offset = 0; offset < appV11.length; offset += 3840) {
    const chunk = appV11.subarray(offset, offset + 3840);
    expect(await post(`${base}/ota/chunk?offset=${offset}`, chunk, 'application/octet-stream')).toBe(200);
  }
  expect(await post(`${base}/ota/finalize`, JSON.stringify({ set_boot: true, reboot: false }), json)).toBe(
    200,
  );
}

describeWithVectors('flash read: the otadata decoder agrees with the device', () => {
  it('after a flash the device boots factory with both copies erased; after an OTA update the decoder names the slot the device boots, with its seq and state', async () => {
    const appV1 = readVector('esp32-app-v1.0.0.bin');
    const partitionTable = readVector('two_ota.bin');
    emulator = await startEmulator({ profile: 'viperhttp', console: 'tcp' });
    const started = emulator;
    const endpoints = started.endpoints();
    const connect = () =>
      EspFlasher.connect({
        targetName: 'bench-esp32',
        port: endpoints.console!,
        platform: 'esp32',
        lineSink: controlPlaneLines(endpoints.control!),
      });
    let flasher = await connect();
    await flasher.write([
      { name: 'partition-table', address: 0x8000, data: partitionTable },
      { name: 'otadata', address: 0xd000, data: new Uint8Array(0x2000).fill(0xff) },
      { name: 'app', address: 0x10000, data: appV1 },
    ]);
    const fresh = await decodeFlash((address, size) => flasher.read(address, size), 'esp32');
    await flasher.resetIntoApp();
    await flasher.close();
    await expect.poll(() => started.device.running?.version, { timeout: 5_000 }).toBe('1.0.0');
    expect(fresh.otadata?.activeCopy).toBe(-1);
    expect(fresh.otadata?.bootSlot).toBe(started.device.running?.partition);

    const http = started.endpoints().services.http!;
    await updateThroughTheDevice(`http://${http.host}:${http.port}`);
    // The reset button (EN through RTS): the bootloader picks the slot from otadata.
    const lines = controlPlaneLines(endpoints.control!);
    await lines.set({ dtr: false, rts: true });
    await sleep(100);
    await lines.set({ dtr: false, rts: false });
    await expect.poll(() => started.device.running?.version, { timeout: 10_000 }).toBe('1.1.0');
    const booted = started.device.running!.partition;
    await sleep(50);
    const onDevice = readOtadata(started.device.flash, { offset: 0xd000, size: 0x2000 });

    flasher = await connect();
    const report = await decodeFlash((address, size) => flasher.read(address, size), 'esp32');
    await flasher.resetIntoApp();
    await flasher.close();
    expect(booted).toBe('ota_0');
    expect(report.otadata?.bootSlot).toBe(booted);
    expect(report.otadata?.copies.map((copy) => [copy.seq, copy.state])).toEqual(
      onDevice.map((entry) => [entry.seq, entry.state]),
    );
    expect(report.otadata?.copies[report.otadata.activeCopy as 0 | 1]?.valid).toBe(true);
    const slot = report.apps.find((app) => app.label === 'ota_0');
    expect(slot?.image).toMatchObject({ version: '1.1.0', sha256Valid: true, checksumValid: true });
  });
});
