import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lowerSecureVersion } from '../../../fixtures/corrupt/index.ts';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { SeededRandom } from '../../../fixtures/random/index.ts';
import { socatMissing } from '../../console/socat.test-support.ts';
import { type EmulatorOptions, type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { watchListenerLeaks } from '../test-support/listener-leaks.ts';
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

const image40k = buildEsp32Image({ version: '1.1.0', size: 40000, seed: 21 });

describe('esp-https-ota: partial download (reference §5.2 step 3, §5.5)', () => {
  const partial = { partialHttpDownload: true, partialHttpDownloadSize: 16384, debugLog: true };

  it('HEAD for the length, then Range requests of max_http_request_size, then success', async () => {
    const updates = await server(serveOnce(image40k, 3));
    const device = await emulator(`${updates.url}/ota.bin`, partial);
    await waitForLine(device, SUCCESS);
    expect(updates.requests.slice(0, 4).map((r) => [r.method, r.range])).toEqual([
      ['HEAD', undefined],
      ['GET', 'bytes=0-16383'],
      ['GET', 'bytes=16384-32767'],
      ['GET', 'bytes=32768-'],
    ]);
    expect(countLines(device, /D \(\d+\) esp_https_ota: Connection closed$/)).toBeGreaterThanOrEqual(2);
    await waitForLine(device, BOOT_VERSION('1.1.0'));
  });

  it('an image that fits one request asks for bytes=0-<image_length> (the C quirk)', async () => {
    const small = buildEsp32Image({ version: '1.1.0', size: 12000, seed: 2 });
    const updates = await server(serveOnce(small));
    const device = await emulator(`${updates.url}/ota.bin`, partial);
    await waitForLine(device, SUCCESS);
    expect(updates.requests[1]).toMatchObject({ method: 'GET', range: 'bytes=0-12000' });
  });

  it('falls back to GET Range bytes=0-0 when HEAD is refused, taking the length from Content-Range', async () => {
    let gets = 0;
    const updates = await server((request, response) => {
      if (request.method === 'HEAD') return void response.writeHead(405).end();
      if (gets++ > 3) return void response.writeHead(404).end();
      serveImage(request, response, image40k);
    });
    const device = await emulator(`${updates.url}/ota.bin`, partial);
    await waitForLine(device, SUCCESS);
    expect(updates.requests.slice(0, 5).map((r) => [r.method, r.range])).toEqual([
      ['HEAD', undefined],
      ['GET', 'bytes=0-0'],
      ['GET', 'bytes=0-16383'],
      ['GET', 'bytes=16384-32767'],
      ['GET', 'bytes=32768-'],
    ]);
  });

  it('a server without Range support answers 200 with the whole image, and the update still succeeds', async () => {
    let gets = 0;
    const updates = await server((request, response) => {
      if (request.method === 'GET' && gets++ > 0) return void response.writeHead(404).end();
      serveImage(request, response, image40k, { ranges: false });
    });
    const device = await emulator(`${updates.url}/ota.bin`, partial);
    await waitForLine(device, SUCCESS);
    expect(updates.requests.slice(0, 2).map((r) => [r.method, r.range])).toEqual([
      ['HEAD', undefined],
      ['GET', 'bytes=0-16383'],
    ]);
    await waitForLine(device, BOOT_VERSION('1.1.0'));
  });

  it('defect ignores-range: one plain GET, no HEAD and no Range', async () => {
    const updates = await server(serveOnce(image40k));
    const device = await emulator(`${updates.url}/ota.bin`, partial, { defects: ['ignores-range'] });
    await waitForLine(device, SUCCESS);
    expect(updates.requests[0]).toMatchObject({ method: 'GET', range: undefined });
    expect(updates.requests.filter((r) => r.method === 'HEAD' || r.range !== undefined)).toEqual([]);
  });
});

describe('esp-https-ota: redirects, chunked transfer, certificates', () => {
  it('follows a two-hop redirect chain (301 → 301 → image)', async () => {
    const origin = await server(serveOnce(image110));
    const hop2 = await server(
      (_request, response) => void response.writeHead(301, { Location: `${origin.url}/ota.bin` }).end(),
    );
    const hop1 = await server(
      (_request, response) => void response.writeHead(301, { Location: `${hop2.url}/next` }).end(),
    );
    const device = await emulator(`${hop1.url}/first`);
    await waitForLine(device, SUCCESS);
    expect(hop1.requests[0]!.url).toBe('/first');
    expect(hop2.requests[0]!.url).toBe('/next');
    expect(origin.requests[0]!.url).toBe('/ota.bin');
    await waitForLine(device, BOOT_VERSION('1.1.0'));
  });

  it('stops at max_redirection_count', async () => {
    const origin = await server(serveOnce(image110));
    const hop2 = await server(
      (_request, response) => void response.writeHead(302, { Location: `${origin.url}/ota.bin` }).end(),
    );
    const hop1 = await server(
      (_request, response) => void response.writeHead(302, { Location: `${hop2.url}/next` }).end(),
    );
    const device = await emulator(`${hop1.url}/first`, { maxRedirects: 1 });
    await waitForLine(device, /E \(\d+\) HTTP_CLIENT: Error, reach max_redirection_count count=1$/);
    await waitForLine(device, /ESP HTTPS OTA Begin failed$/);
    expect(origin.requests).toHaveLength(0);
  });

  it.each(['', 'notaurl', 'https://[::1'])(
    'an update URL http_parser refuses (%j) ends in Begin failed with the URL named, never a crash',
    async (updateUrl) => {
      const device = await emulator(updateUrl);
      await waitForLine(device, /E \(\d+\) HTTP_CLIENT: Error parse url /);
      await waitForLine(device, /E \(\d+\) esp_https_ota: Failed to initialise HTTP connection$/);
      await waitForLine(device, /ESP HTTPS OTA Begin failed$/);
      expect(consoleText(device).join('\n')).toContain(`Error parse url ${updateUrl}`);
    },
  );

  it('a redirect to a Location http_parser refuses fails the begin; the same chain with a good Location installs', async () => {
    const origin = await server(serveOnce(image110));
    let location = 'https://[bad';
    const hop = await server(
      (_request, response) => void response.writeHead(302, { Location: location }).end(),
    );
    const device = await emulator(`${hop.url}/first`);
    await waitForLine(device, /E \(\d+\) HTTP_CLIENT: Error parse url https:\/\/\[bad$/);
    await waitForLine(device, /ESP HTTPS OTA Begin failed$/);
    expect(origin.requests).toHaveLength(0);
    location = `${origin.url}/ota.bin`;
    const twin = await emulator(`${hop.url}/first`);
    await waitForLine(twin, SUCCESS);
  });

  it('downloads a chunked response without Content-Length', async () => {
    let gets = 0;
    const updates = await server((_request, response) => {
      if (gets++ > 0) return void response.writeHead(404).end();
      response.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      for (let offset = 0; offset < image110.length; offset += 5000) {
        response.write(Buffer.from(image110.subarray(offset, offset + 5000)));
      }
      response.end();
    });
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(device, SUCCESS);
    await waitForLine(device, BOOT_VERSION('1.1.0'));
  });

  it('writes full read buffers whatever pieces the network brings: the same flash operations for the image sent whole or in 333-byte pieces', async () => {
    // esp_http_client_read fills the buffer before it returns, so an update's esp_ota_write calls,
    // and the flash operations a power-cut campaign numbers, are the same however TCP cut the body.
    const programs = async (pieceBytes: number | undefined): Promise<string[]> => {
      let gets = 0;
      const updates = await server(async (_request, response) => {
        if (gets++ > 0) return void response.writeHead(404).end();
        response.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': image110.length,
        });
        const step = pieceBytes ?? image110.length;
        for (let offset = 0; offset < image110.length; offset += step) {
          response.write(Buffer.from(image110.subarray(offset, offset + step)));
          // Each piece on its own: the device's reads see the body as it was cut.
          if (pieceBytes !== undefined) await new Promise((resolve) => setImmediate(resolve));
        }
        response.end();
      });
      const device = await emulator(`${updates.url}/ota.bin`);
      await waitForLine(device, SUCCESS);
      await waitForLine(device, BOOT_VERSION('1.1.0'));
      return device.device
        .flashTrace(0)
        .operations.filter((operation) => operation.kind === 'program' && operation.offset >= 0x110000)
        .map((operation) => `${operation.offset.toString(16)}+${operation.length}`);
    };
    const whole = await programs(undefined);
    const pieces = await programs(333);
    expect(whole.length).toBeGreaterThanOrEqual(image110.length / 256);
    expect(pieces).toEqual(whole);
  });

  it('refuses a certificate for another name unless skipCertCommonNameCheck is set', async () => {
    const updates = await server(serveOnce(image110), pki.otherName);
    const strict = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(
      strict,
      /E \(\d+\) esp_https_ota: Failed to open HTTP connection: ESP_ERR_HTTP_CONNECT$/,
    );
    await waitForLine(strict, /ESP HTTPS OTA Begin failed$/);
    expect(updates.requests).toHaveLength(0);

    const lenient = await emulator(`${updates.url}/ota.bin`, { skipCertCommonNameCheck: true });
    await waitForLine(lenient, SUCCESS);
  });
});

describe('esp-https-ota: interrupted and stalled downloads', () => {
  it('a reset in mid-download keeps the old image; the next boot downloads the whole image again', async () => {
    let gets = 0;
    const updates = await server((request, response) => {
      const attempt = gets++;
      if (attempt >= 2) return void response.writeHead(404).end();
      if (attempt === 1) return serveImage(request, response, image110);
      response.writeHead(200, { 'Content-Length': image110.length });
      let offset = 0;
      const timer = setInterval(() => {
        if (offset >= 24 * 1024) return;
        response.write(Buffer.from(image110.subarray(offset, offset + 4096)));
        offset += 4096;
      }, 10);
      response.on('close', () => clearInterval(timer));
    });
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitUntil(() => (updates.bytesSent[0] ?? 0) >= 24 * 1024, 10_000, 'first 24 KiB sent');
    const control = device.endpoints().control!;
    const cycle = await fetch(`${control}/power/cycle?offMs=0`, { method: 'POST' });
    expect(cycle.status).toBe(200);
    await waitForLine(device, SUCCESS);
    await waitForLine(device, BOOT_VERSION('1.1.0'));
    expect(countLines(device, /esp_https_ota: Starting OTA\.\.\.$/)).toBeGreaterThanOrEqual(2);
    expect(countLines(device, BOOT_VERSION('1.0.0'))).toBe(2);
  });

  it('a server that never answers times out after timeout_ms; the old image keeps running without a restart', async () => {
    const updates = await server(() => {});
    const device = await emulator(`${updates.url}/ota.bin`, { timeoutMs: 300 });
    await waitForLine(device, /E \(\d+\) esp_https_ota: Failed to establish HTTP connection$/);
    await waitForLine(device, /E \(\d+\) advanced_https_ota_example: ESP HTTPS OTA Begin failed$/);
    await sleep(150);
    expect(countLines(device, SOFTWARE_RESET)).toBe(0);
  });

  it('defect restarts-after-failed-download: the failed device restarts, the conforming one does not', async () => {
    const updates = await server((_request, response) => void response.writeHead(404).end());
    const conforming = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(conforming, /ESP HTTPS OTA Begin failed$/);
    await sleep(200);
    expect(countLines(conforming, SOFTWARE_RESET)).toBe(0);

    const defective = await emulator(
      `${updates.url}/ota.bin`,
      {},
      { defects: ['restarts-after-failed-download'] },
    );
    await waitForLine(defective, SOFTWARE_RESET);
  });

  // Found by the pull-side network fuzzing: every OTA task left an abort listener on the boot's
  // signal, so an app that checks on a timer leaked without end (MaxListenersExceededWarning).
  it('checks hundreds of times in one boot (304 each time) and leaves nothing behind on the boot', async () => {
    const listeners = watchListenerLeaks();
    cleanups.push(listeners.stop);
    const updates = await server((_request, response) => void response.writeHead(304).end());
    const device = await emulator(`${updates.url}/ota.bin`, { checkIntervalMs: 1 });
    await waitUntil(() => updates.requests.length >= 300, 20_000, '300 checks');
    expect(
      countLines(device, /OTA image not modified since last request \(status code: 304\)$/),
    ).toBeGreaterThan(250);
    expect(countLines(device, SOFTWARE_RESET)).toBe(0);
    expect(listeners.leaks).toEqual([]);
  });
});

describe('esp-https-ota: rollback and mark-valid (reference §3.5)', () => {
  async function updateThenReset(
    options: Record<string, unknown>,
    defects: string[] = [],
  ): Promise<StartedEmulator> {
    const updates = await server(serveOnce(image110));
    const device = await emulator(`${updates.url}/ota.bin`, options, { defects });
    await waitForLine(device, BOOT_VERSION('1.1.0'));
    await waitForLine(device, /File not found\(404\)$/);
    const cycle = await fetch(`${device.endpoints().control}/power/cycle?offMs=0`, { method: 'POST' });
    expect(cycle.status).toBe(200);
    await waitUntil(
      () => countLines(device, /rst:0x1 \(POWERON_RESET\)/) === 2,
      5000,
      'second power-on boot',
    );
    await waitForLine(device, /advanced_https_ota_example: OTA example app_main start$/);
    return device;
  }

  const lastBootVersion = (device: StartedEmulator) =>
    consoleText(device)
      .filter((line) => /app_init: App version:/.test(line))
      .at(-1);

  it('without mark-valid the next reset rolls back to the old version; with auto it stays', async () => {
    const never = await updateThenReset({ markValid: 'never' });
    expect(lastBootVersion(never)).toMatch(BOOT_VERSION('1.0.0'));
    expect(countLines(never, /App is valid, rollback cancelled successfully/)).toBe(0);

    const auto = await updateThenReset({ markValid: 'auto' });
    expect(lastBootVersion(auto)).toMatch(BOOT_VERSION('1.1.0'));
  });

  it('a failing self-test rolls back at once', async () => {
    const updates = await server(serveOnce(image110));
    const device = await emulator(`${updates.url}/ota.bin`, { selfTest: 'fail' });
    await waitForLine(
      device,
      /E \(\d+\) advanced_https_ota_example: Diagnostics failed! Start rollback to the previous version \.\.\.$/,
    );
    await waitUntil(() => countLines(device, /app_init: App version:/) === 3, 5000, 'third boot');
    expect(lastBootVersion(device)).toMatch(BOOT_VERSION('1.0.0'));
  });

  it('defect never-rolls-back: an unconfirmed image survives the reset', async () => {
    const device = await updateThenReset({ markValid: 'never' }, ['never-rolls-back']);
    expect(lastBootVersion(device)).toMatch(BOOT_VERSION('1.1.0'));
  });

  it('defect marks-valid-before-check: a failing self-test can no longer roll back', async () => {
    const updates = await server(serveOnce(image110));
    const device = await emulator(
      `${updates.url}/ota.bin`,
      { selfTest: 'fail' },
      { defects: ['marks-valid-before-check'] },
    );
    await waitForLine(device, /File not found\(404\)$/);
    expect(countLines(device, /Diagnostics failed/)).toBe(0);
    expect(lastBootVersion(device)).toMatch(BOOT_VERSION('1.1.0'));
  });
});

describe('esp-https-ota: chip id and secure_version checks, each defect next to the conforming device', () => {
  it('skips-chip-id-check: the conforming device stops at the header, the defective one downloads it all', async () => {
    const otherChip = Uint8Array.from(image110);
    otherChip[12] = 5;
    const updates = await server((request, response) => serveImage(request, response, otherChip));
    const conforming = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(conforming, /E \(\d+\) esp_https_ota: Mismatch chip id, expected 0, found 5$/);
    await waitForLine(conforming, FAILED);

    const defective = await emulator(`${updates.url}/ota.bin`, {}, { defects: ['skips-chip-id-check'] });
    await waitForLine(defective, /Image validation failed, image is corrupted$/);
    expect(countLines(defective, /Mismatch chip id/)).toBe(0);
  });

  const antiRollbackChip = {
    esp32: { chip: { rollback: true, antiRollback: true, efuseSecureVersion: 1 } },
    factory: { secureVersion: 1 },
  } satisfies Partial<EmulatorOptions>;
  const secure1 = buildEsp32Image({ version: '1.1.0', size: 48 * 1024, secureVersion: 1, seed: 4 });
  const secure0 = Uint8Array.from(secure1);
  secure0[36] = 0x00;

  it('a lower secure_version is refused from the descriptor; an equal one is accepted', async () => {
    const low = await server((request, response) => serveImage(request, response, secure0));
    const refused = await emulator(`${low.url}/ota.bin`, {}, antiRollbackChip);
    await waitForLine(
      refused,
      /W \(\d+\) advanced_https_ota_example: New firmware security version is less than eFuse programmed, 0 < 1$/,
    );
    await waitForLine(refused, /E \(\d+\) advanced_https_ota_example: image header verification failed$/);
    await waitForLine(refused, FAILED);

    const equal = await server(serveOnce(secure1));
    const accepted = await emulator(`${equal.url}/ota.bin`, {}, antiRollbackChip);
    await waitForLine(accepted, SUCCESS);
    await waitForLine(accepted, BOOT_VERSION('1.1.0'));
  });

  it('ignores-secure-version: the defective device downloads it and fails only at set_boot', async () => {
    // Resealed (checksum and SHA-256 recomputed), so only the secure_version is wrong.
    const resealed = lowerSecureVersion(secure1, 0);
    const low = await server((request, response) => serveImage(request, response, resealed));
    const defective = await emulator(
      `${low.url}/ota.bin`,
      {},
      { ...antiRollbackChip, defects: ['ignores-secure-version'] },
    );
    await waitForLine(defective, /esp_https_ota: esp_ota_set_boot_partition failed! err=0x1504$/);
    await waitForLine(defective, /ESP_HTTPS_OTA upgrade failed 0x1504$/);
    expect(countLines(defective, /New firmware security version is less/)).toBe(0);
  });
});

describe('esp-https-ota: otadata written in place (defect otadata-in-place)', () => {
  const versions = ['1.1.0', '1.2.0', '1.3.0'].map((version, index) =>
    buildEsp32Image({ version, size: 32 * 1024, seed: 30 + index }),
  );
  function serveSequence(): Parameters<typeof startHttpsServer>[1] {
    let gets = 0;
    return (request, response) => {
      const next = versions[gets++];
      if (!next) return void response.writeHead(404).end();
      serveImage(request, response, next);
    };
  }
  const noRollback = { esp32: { chip: { rollback: false } } } satisfies Partial<EmulatorOptions>;

  it('three updates in a row end on 1.3.0; without the sector erase the third otadata entry is torn and 1.2.0 boots', async () => {
    const good = await server(serveSequence());
    const conforming = await emulator(`${good.url}/ota.bin`, {}, noRollback);
    await waitUntil(() => countLines(conforming, SUCCESS) === 3, 10_000, 'three updates');
    await waitUntil(
      () => countLines(conforming, /File not found\(404\)$/) === 1,
      10_000,
      'the 404 after the last',
    );
    expect(
      consoleText(conforming)
        .filter((line) => /App version:/.test(line))
        .at(-1),
    ).toMatch(BOOT_VERSION('1.3.0'));

    const bad = await server(serveSequence());
    const defective = await emulator(
      `${bad.url}/ota.bin`,
      {},
      { ...noRollback, defects: ['otadata-in-place'] },
    );
    await waitUntil(() => countLines(defective, SUCCESS) === 3, 10_000, 'three updates');
    await waitUntil(
      () => countLines(defective, /File not found\(404\)$/) === 1,
      10_000,
      'the 404 after the last',
    );
    expect(
      consoleText(defective)
        .filter((line) => /App version:/.test(line))
        .at(-1),
    ).toMatch(BOOT_VERSION('1.2.0'));
  });
});

/** Types a line on the chip's UART through its TCP console (the emulator's ser2net-style port). */
async function typeOnConsole(device: StartedEmulator, line: string): Promise<void> {
  const url = new URL(device.endpoints().console!);
  const socket = tcpConnect({ host: url.hostname, port: Number(url.port) });
  socket.on('error', () => {});
  cleanups.push(async () => void socket.destroy());
  await once(socket, 'connect');
  await new Promise<void>((resolve, reject) =>
    socket.write(`${line}\n`, (error) => (error ? reject(error) : resolve())),
  );
}

describe('esp-https-ota: confirmation defects with an on-request app (the rig setting)', () => {
  const tcpConsole = { console: 'tcp' } satisfies Partial<EmulatorOptions>;
  const powerCycle = async (device: StartedEmulator, boots: number) => {
    const cycle = await fetch(`${device.endpoints().control}/power/cycle?offMs=0`, { method: 'POST' });
    expect(cycle.status).toBe(200);
    await waitUntil(
      () => countLines(device, /rst:0x1 \(POWERON_RESET\)/) === boots,
      5000,
      `power-on boot ${boots}`,
    );
    await waitForLine(device, /File not found\(404\)$/);
  };
  const lastBoot = (device: StartedEmulator) =>
    consoleText(device)
      .filter((line) => /app_init: App version:/.test(line))
      .at(-1);

  /** Updates to 1.1.0, optionally types `ota mark-valid`, then power-cycles `cycles` times. */
  async function onRequest(
    defects: string[],
    { confirm, cycles }: { confirm: boolean; cycles: number },
  ): Promise<StartedEmulator> {
    const updates = await server(serveOnce(image110));
    const device = await emulator(
      `${updates.url}/ota.bin`,
      { markValid: 'on-request' },
      { ...tcpConsole, defects },
    );
    await waitForLine(device, BOOT_VERSION('1.1.0'));
    await waitForLine(device, /File not found\(404\)$/);
    if (confirm) {
      await typeOnConsole(device, 'ota mark-valid');
      await waitForLine(device, /App is valid, rollback cancelled successfully$/);
    }
    for (let cycle = 0; cycle < cycles; cycle++) await powerCycle(device, cycle + 2);
    return device;
  }

  it('marks-valid-before-check: unconfirmed, the conforming app rolls back at the reset; the defective one confirmed itself at boot', async () => {
    const conforming = await onRequest([], { confirm: false, cycles: 1 });
    expect(lastBoot(conforming)).toMatch(BOOT_VERSION('1.0.0'));
    expect(countLines(conforming, /App is valid, rollback cancelled successfully/)).toBe(0);

    const defective = await onRequest(['marks-valid-before-check'], { confirm: false, cycles: 1 });
    expect(lastBoot(defective)).toMatch(BOOT_VERSION('1.1.0'));
    expect(countLines(defective, /App is valid, rollback cancelled successfully/)).toBe(1);
  });

  it('confirms-wrong-partition: after `ota mark-valid` the conforming app keeps 1.1.0; the defective one never confirms and rolls back', async () => {
    const conforming = await onRequest([], { confirm: true, cycles: 1 });
    expect(lastBoot(conforming)).toMatch(BOOT_VERSION('1.1.0'));

    const updates = await server(serveOnce(image110));
    const defective = await emulator(
      `${updates.url}/ota.bin`,
      { markValid: 'on-request' },
      { ...tcpConsole, defects: ['confirms-wrong-partition'] },
    );
    await waitForLine(defective, BOOT_VERSION('1.1.0'));
    await waitForLine(defective, /File not found\(404\)$/);
    await typeOnConsole(defective, 'ota mark-valid');
    // Console lines are handled in order: once the check after it has run, the command was read.
    await typeOnConsole(defective, 'ota check');
    await waitUntil(() => countLines(defective, /File not found\(404\)$/) === 2, 5000, 'the second check');
    expect(countLines(defective, /App is valid, rollback cancelled successfully/)).toBe(0);
    await powerCycle(defective, 2);
    expect(lastBoot(defective)).toMatch(BOOT_VERSION('1.0.0'));
  });

  it('otadata-in-place: a confirmation programmed without the erase turns VALID into NEW, so the image is pending again and rolls back one reset later', async () => {
    const conforming = await onRequest([], { confirm: true, cycles: 2 });
    expect(lastBoot(conforming)).toMatch(BOOT_VERSION('1.1.0'));

    const defective = await onRequest(['otadata-in-place'], { confirm: true, cycles: 2 });
    // First reset: NEW → PENDING_VERIFY, 1.1.0 boots unconfirmed; second reset: ABORTED, rolled back.
    expect(
      consoleText(defective)
        .filter((line) => /app_init: App version:/.test(line))
        .slice(-2),
    ).toEqual([expect.stringMatching(BOOT_VERSION('1.1.0')), expect.stringMatching(BOOT_VERSION('1.0.0'))]);
  });
});

describe('esp-https-ota: the lab console command', () => {
  it('an `ota check` typed while the boot check runs is not lost: it runs once that check ends', async () => {
    let gets = 0;
    let releaseFirst: (() => void) | undefined;
    const updates = await server((request, response) => {
      if (request.method !== 'GET') return serveImage(request, response, image110);
      gets++;
      // The boot check's answer waits until the command was typed, so the task is surely still running.
      if (gets === 1) releaseFirst = () => void response.writeHead(404).end();
      else response.writeHead(404).end();
    });
    const device = await emulator(`${updates.url}/ota.bin`, {}, { console: 'tcp' });
    await waitUntil(() => releaseFirst !== undefined, 5000, 'the boot check asks');
    await typeOnConsole(device, 'ota check');
    await sleep(50);
    releaseFirst!();
    await waitUntil(() => countLines(device, /File not found\(404\)$/) === 2, 5000, 'the typed check');
    expect(gets).toBe(2);
  });
});

describe('esp-https-ota: defect fixed-staging-partition', () => {
  const versions = ['1.1.0', '1.2.0'].map((version, index) =>
    buildEsp32Image({ version, size: 32 * 1024, seed: 40 + index }),
  );
  function serveSequence(): Parameters<typeof startHttpsServer>[1] {
    let gets = 0;
    return (request, response) => {
      if (request.method !== 'GET') return serveImage(request, response, versions[0]!);
      const next = versions[gets++];
      if (!next) return void response.writeHead(404).end();
      serveImage(request, response, next);
    };
  }

  it('two updates in a row: the conforming app alternates slots; the defective one writes ota_0 while running from it', async () => {
    const good = await server(serveSequence());
    const conforming = await emulator(`${good.url}/ota.bin`);
    await waitForLine(conforming, BOOT_VERSION('1.2.0'));
    expect(countLines(conforming, /Writing to <ota_0> partition/)).toBe(1);
    expect(countLines(conforming, /Writing to <ota_1> partition/)).toBe(1);

    const bad = await server(serveSequence());
    const defective = await emulator(`${bad.url}/ota.bin`, {}, { defects: ['fixed-staging-partition'] });
    await waitForLine(defective, BOOT_VERSION('1.1.0'));
    await waitForLine(defective, /esp_https_ota: esp_ota_begin failed \(ESP_ERR_OTA_PARTITION_CONFLICT\)$/);
    await waitForLine(defective, FAILED);
    expect(countLines(defective, /Writing to <ota_0> partition/)).toBe(2);
    expect(countLines(defective, /App version:\s+1\.2\.0/)).toBe(0);
  });
});

describe('esp-https-ota: the console through a real pseudo-terminal', () => {
  it('shows the update and the new version booting on the PTY (skipped when socat not installed)', async (context) => {
    if (socatMissing !== undefined) return context.skip(socatMissing);
    const updates = await server(serveOnce(image110));
    const device = await emulator(
      `${updates.url}/ota.bin`,
      { checkOnBoot: false, checkIntervalMs: 300 },
      { console: 'pty' },
    );
    const stream = createReadStream(device.endpoints().console!);
    let text = '';
    stream.on('data', (chunk) => {
      text += chunk.toString();
    });
    try {
      await waitUntil(() => /App version:\s+1\.1\.0\r\n/.test(text), 10_000, 'the new version on the PTY');
      expect(text).toContain(
        'advanced_https_ota_example: ESP_HTTPS_OTA upgrade successful. Rebooting ...\r\n',
      );
      expect(text).toMatch(/rst:0xc \(SW_CPU_RESET\)/);
      expect(text).toMatch(/boot: Loaded app from partition at offset 0x110000\r\n/);
    } finally {
      stream.destroy();
      await once(stream, 'close');
    }
  });
});

describe('esp-https-ota: version-sensitive strings (reference §10)', () => {
  it('v5.4 logs the staging partition by subtype; v5.5 by label', async () => {
    const updates = await server((request, response) =>
      serveImage(request, response, image110.subarray(0, 180)),
    );
    const old = await emulator(
      `${updates.url}/ota.bin`,
      { idfVersion: 'v5.4' },
      { esp32: { chip: { rollback: true, idfVersion: 'v5.4' } } },
    );
    await waitForLine(old, /I \(\d+\) esp_https_ota: Writing to partition subtype 16 at offset 0x110000$/);
    const current = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(current, /I \(\d+\) esp_https_ota: Writing to <ota_0> partition at offset 0x110000$/);
    expect(countLines(current, /Writing to partition subtype/)).toBe(0);
  });

  it('HEAD reports a chip id mismatch under boot_comm; v6.0 under esp_https_ota', async () => {
    const wrongChip = Uint8Array.from(image110.subarray(0, 2000));
    wrongChip[13] = 0xfe;
    const updates = await server((request, response) => serveImage(request, response, wrongChip));
    const head = await emulator(`${updates.url}/ota.bin`, { idfVersion: 'head' });
    await waitForLine(head, /E \(\d+\) boot_comm: mismatch chip ID, expected 0, found 65024$/);
    const v60 = await emulator(`${updates.url}/ota.bin`, { idfVersion: 'v6.0' });
    await waitForLine(v60, /E \(\d+\) esp_https_ota: Mismatch chip id, expected 0, found 65024$/);
  });
});

describe('esp-https-ota: a connection closed before Content-Length (reference §5.5)', () => {
  it('fails with data read -1, reports incomplete data and aborts without a restart', async () => {
    const updates = await server((_request, response) => {
      response.writeHead(200, { 'Content-Length': image110.length });
      response.write(Buffer.from(image110.subarray(0, 30_000)), () => response.socket?.destroy());
    });
    const device = await emulator(`${updates.url}/ota.bin`);
    await waitForLine(device, /E \(\d+\) esp_https_ota: data read -1, errno 128$/);
    await waitForLine(device, /E \(\d+\) advanced_https_ota_example: Complete data was not received\.$/);
    await waitForLine(device, /advanced_https_ota_example: OTA abort$/);
    await waitForLine(device, FAILED);
    await sleep(100);
    expect(countLines(device, SOFTWARE_RESET)).toBe(0);
  });
});

describe('esp-https-ota: power-safety defects of the boot selection (power-cut campaigns), each next to the conforming device', () => {
  const image111 = buildEsp32Image({ version: '1.1.1', size: 32 * 1024, seed: 41 });
  const image120 = buildEsp32Image({ version: '1.2.0', size: 32 * 1024, seed: 42 });
  /** ota_1 of the default table (factory 0x10000, ota_0 0x110000, ota_1 0x210000). */
  const OTA_1 = 0x210000;

  async function waitDarkThenBoot(device: StartedEmulator): Promise<string[]> {
    await waitUntil(() => device.device.state === 'off', 10_000, 'the cut');
    const from = consoleText(device).length;
    await device.device.powerOn();
    await waitForLine(device, /app_init: App version:/, from);
    return consoleText(device).slice(from);
  }

  /** Two updates (1.1.1 into ota_0, 1.2.0 into ota_1); power goes at the first flash operation after 1.2.0's last byte. */
  async function cutAtSecondCommit(defects: string[]): Promise<string[]> {
    let gets = 0;
    const updates = await server((request, response) => {
      const image = [image111, image120][request.method === 'GET' ? gets++ : gets];
      if (!image) return void response.writeHead(404).end();
      serveImage(request, response, image);
    });
    const device = await emulator(`${updates.url}/ota.bin`, {}, { defects });
    device.device.flash.onOperation((operation) => {
      if (operation.kind === 'program' && operation.offset + operation.length === OTA_1 + image120.length)
        device.device.cutPowerAfterOperations(0);
    });
    return await waitDarkThenBoot(device);
  }

  it('conforming: a cut at the commit erase loses only the inactive entry, so 1.1.1 boots through its own otadata entry', async () => {
    const boot = await cutAtSecondCommit([]);
    expect(boot.some((line) => BOOT_VERSION('1.1.1').test(line))).toBe(true);
    expect(boot.some((line) => /ota data partition invalid|not bootable/.test(line))).toBe(false);
  }, 20_000);

  it('defect otadata-overwrites-active-entry: the same cut erases the entry naming 1.1.1, and the chip falls back to factory', async () => {
    const boot = await cutAtSecondCommit(['otadata-overwrites-active-entry']);
    expect(boot.some((line) => /ota data partition invalid, falling back to factory/.test(line))).toBe(true);
    expect(boot.some((line) => BOOT_VERSION('1.0.0').test(line))).toBe(true);
  }, 20_000);

  async function cutHalfwayThroughWrite(defects: string[]): Promise<string[]> {
    const updates = await server(serveOnce(image111));
    const device = await emulator(
      `${updates.url}/ota.bin`,
      { checkOnBoot: false },
      { defects, console: 'tcp' },
    );
    device.device.cutPowerAfterBytes(image111.length / 2);
    await typeOnConsole(device, 'ota check');
    return await waitDarkThenBoot(device);
  }

  it('conforming: a cut halfway through the image write leaves otadata untouched; factory boots by its own selection', async () => {
    const boot = await cutHalfwayThroughWrite([]);
    expect(boot.some((line) => BOOT_VERSION('1.0.0').test(line))).toBe(true);
    expect(boot.some((line) => /not bootable/.test(line))).toBe(false);
  }, 20_000);

  it('defect sets-boot-before-verify: the half-written slot is already selected; the bootloader skips it and falls back', async () => {
    const boot = await cutHalfwayThroughWrite(['sets-boot-before-verify']);
    expect(boot.some((line) => /OTA app partition slot 0 is not bootable/.test(line))).toBe(true);
    expect(boot.some((line) => BOOT_VERSION('1.0.0').test(line))).toBe(true);
  }, 20_000);
});
