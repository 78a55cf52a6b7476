import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { SeededRandom } from '../../../fixtures/random/index.ts';
import { type EmulatorOptions, type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import {
  consoleText,
  countLines,
  makeTestPki,
  serveImage,
  sleep,
  startHttpsServer,
  type TestPki,
  type TestServer,
  waitForLine,
  waitUntil,
} from './test-kit.ts';

let pki: TestPki;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(() => {
  pki = makeTestPki();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const image110 = buildEsp32Image({
  version: '1.1.0',
  projectName: 'esp-https-ota-demo',
  size: 96 * 1024,
  seed: 11,
});

async function server(
  handler: Parameters<typeof startHttpsServer>[1],
  tls = pki.server,
): Promise<TestServer> {
  const started = await startHttpsServer(tls, handler);
  cleanups.push(() => started.close());
  return started;
}

async function emulator(
  updateUrl: string,
  options: Record<string, unknown> = {},
  extra: Partial<EmulatorOptions> = {},
): Promise<StartedEmulator> {
  const started = await startEmulator({
    profile: 'esp-https-ota',
    options: { updateUrl, caPem: pki.caPem, restartDelayMs: 0, ...options },
    ...extra,
  });
  cleanups.push(() => started.stop());
  return started;
}

const BOOT_VERSION = (version: string) =>
  new RegExp(`app_init: App version:\\s+${version.replace(/\./g, '\\.')}$`);
const SUCCESS = /advanced_https_ota_example: ESP_HTTPS_OTA upgrade successful\. Rebooting \.\.\.$/;
const FAILED = /advanced_https_ota_example: ESP_HTTPS_OTA upgrade failed$/;
const SOFTWARE_RESET = /rst:0xc \(SW_CPU_RESET\)/;

/** Serves `image` to the first `times` GETs, 404 after: a release that is published once. */
function serveOnce(image: Uint8Array, times = 1): Parameters<typeof startHttpsServer>[1] {
  let served = 0;
  return (request, response) => {
    if (request.method === 'GET' && served >= times) {
      response.writeHead(404).end();
      return;
    }
    if (request.method === 'GET') served++;
    serveImage(request, response, image);
  };
}

describe('esp-https-ota: the happy path', () => {
  it('downloads, verifies, sets boot, restarts, and the new version runs and is confirmed', async () => {
    const updates = await server(serveOnce(image110));
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(device, SUCCESS);
    await waitForLine(device, BOOT_VERSION('1.1.0'));
    await waitForLine(device, /advanced_https_ota_example: App is valid, rollback cancelled successfully$/);
    const log = consoleText(device);
    const order = [
      /advanced_https_ota_example: OTA example app_main start$/,
      /advanced_https_ota_example: Starting Advanced OTA example$/,
      /advanced_https_ota_example: OTA started$/,
      /advanced_https_ota_example: Connected to server$/,
      /esp_https_ota: Starting OTA\.\.\.$/,
      /esp_https_ota: Writing to <ota_0> partition at offset 0x110000$/,
      /advanced_https_ota_example: Reading Image Description$/,
      /advanced_https_ota_example: Running firmware version: 1\.0\.0$/,
      /advanced_https_ota_example: Verifying chip id of new image: 0$/,
      /advanced_https_ota_example: Boot partition updated\. Next Partition: 16$/,
      /advanced_https_ota_example: OTA finish$/,
      SUCCESS,
      SOFTWARE_RESET,
      /boot: Loaded app from partition at offset 0x110000$/,
      BOOT_VERSION('1.1.0'),
    ];
    let at = -1;
    for (const pattern of order) {
      const next = log.findIndex((line, index) => index > at && pattern.test(line));
      expect(next, `${pattern} after line ${at}`).toBeGreaterThan(at);
      at = next;
    }
    expect(updates.requests[0]).toMatchObject({ method: 'GET', url: '/ota.bin', range: undefined });
    expect(updates.bytesSent[0]).toBe(image110.length);
    expect(device.device.running?.version).toBe('1.1.0');
  });

  it('does not update to the version it already runs', async () => {
    const same = buildEsp32Image({ version: '1.0.0', size: 48 * 1024, seed: 3 });
    const updates = await server((request, response) => serveImage(request, response, same));
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(
      device,
      /W \(\d+\) advanced_https_ota_example: Current running version is the same as a new\. We will not continue the update\.$/,
    );
    await waitForLine(device, /OTA abort$/);
    await waitForLine(device, FAILED);
    await sleep(100);
    expect(countLines(device, SOFTWARE_RESET)).toBe(0);
    expect(countLines(device, /Verifying chip id of new image/)).toBe(0);
  });

  it('checks again on the interval and on no boot check, then updates', async () => {
    const updates = await server(serveOnce(image110));
    const device = await emulator(`${updates.url}/ota.bin`, { checkOnBoot: false, checkIntervalMs: 150 });
    await sleep(50);
    expect(updates.requests).toHaveLength(0);
    await waitForLine(device, SUCCESS);
    await waitForLine(device, BOOT_VERSION('1.1.0'));
  });
});

describe('esp-https-ota: the advanced_https_ota pytest scenarios (reference §6.1)', () => {
  it('truncated image (64000 bytes): image validation failed, no restart, old version keeps running', async () => {
    const truncated = image110.subarray(0, 64000);
    const updates = await server((request, response) => serveImage(request, response, truncated));
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(device, /E \(\d+\) esp_ota_ops: New image failed verification$/);
    await waitForLine(device, /advanced_https_ota_example: Image validation failed, image is corrupted$/);
    await waitForLine(device, /advanced_https_ota_example: ESP_HTTPS_OTA upgrade failed 0x1503$/);
    await sleep(100);
    expect(countLines(device, SOFTWARE_RESET)).toBe(0);
    expect(device.device.running?.version).toBe('1.0.0');
  });

  it('truncated header (180 bytes): esp_https_ota_get_img_desc failed', async () => {
    const updates = await server((request, response) =>
      serveImage(request, response, image110.subarray(0, 180)),
    );
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(device, /E \(\d+\) esp_https_ota: Complete headers were not received$/);
    await waitForLine(device, /E \(\d+\) advanced_https_ota_example: esp_https_ota_get_img_desc failed$/);
    await waitForLine(device, FAILED);
    expect(countLines(device, SOFTWARE_RESET)).toBe(0);
  });

  it('random data (32000 bytes, first byte 0): incorrect app descriptor magic', async () => {
    const random = new SeededRandom(7).bytes(32000);
    random[0] = 0x00;
    const updates = await server((request, response) => serveImage(request, response, random));
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(device, /E \(\d+\) esp_https_ota: Incorrect app descriptor magic$/);
    await waitForLine(device, /advanced_https_ota_example: esp_https_ota_get_img_desc failed$/);
    await waitForLine(device, FAILED);
  });

  it('wrong chip id (2000 bytes, byte 13 = 0xFE): mismatch chip id, complete data not received', async () => {
    const wrongChip = Uint8Array.from(image110.subarray(0, 2000));
    wrongChip[13] = 0xfe;
    const updates = await server((request, response) => serveImage(request, response, wrongChip));
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(device, /E \(\d+\) esp_https_ota: Mismatch chip id, expected 0, found \d+$/);
    await waitForLine(device, /advanced_https_ota_example: Complete data was not received\.$/);
    await waitForLine(device, FAILED);
    expect(device.device.running?.version).toBe('1.0.0');
  });
});

describe('esp-https-ota: HTTP status handling (reference §5.3)', () => {
  it.each([
    [404, /E \(\d+\) esp_https_ota: File not found\(404\)$/],
    [418, /E \(\d+\) esp_https_ota: Client error \(418\)$/],
    [503, /E \(\d+\) esp_https_ota: Server error \(503\)$/],
  ])('status %i is logged and begin fails', async (status, line) => {
    const updates = await server((_request, response) => void response.writeHead(status).end());
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(device, line);
    await waitForLine(device, /E \(\d+\) esp_https_ota: Failed to establish HTTP connection$/);
    await waitForLine(device, /E \(\d+\) advanced_https_ota_example: ESP HTTPS OTA Begin failed$/);
  });
});
