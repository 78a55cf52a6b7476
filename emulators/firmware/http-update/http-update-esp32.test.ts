import { createHash, X509Certificate } from 'node:crypto';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestCertificates } from '../../../drivers/update-server/index.ts';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../../boot/index.ts';
import { socatMissing } from '../../console/socat.test-support.ts';
import { type EmulatorOptions, type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { consoleText, waitForLine } from '../test-support/console-lines.ts';
import { notModified, okHead, ScriptedUpdateServer, statusOnly } from './update-server.test-support.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');
const FACTORY = { version: '1.0.0', projectName: 'http-update-demo', size: 64 * 1024, seed: 1 };

async function updateServer(tls?: { key: string; cert: string }): Promise<ScriptedUpdateServer> {
  const server = new ScriptedUpdateServer(tls);
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

async function start(
  server: ScriptedUpdateServer,
  extra: Partial<EmulatorOptions> = {},
): Promise<StartedEmulator> {
  const { options, ...rest } = extra;
  const emulator = await startEmulator({
    profile: 'http-update',
    platform: 'esp32',
    factory: FACTORY,
    ...rest,
    options: { updateUrl: server.url('/fw'), staMac: '24:0A:C4:01:02:03', sdkVersion: 'v4.4.7', ...options },
  });
  cleanups.push(() => emulator.stop());
  return emulator;
}

describe('http-update (ESP32 HTTPUpdate)', () => {
  it('sends the x-ESP32-* request, flashes the next OTA slot, restarts into it and reports its MD5 and SHA-256', async () => {
    const image = buildEsp32Image({
      version: '2.0.0',
      projectName: 'http-update-demo',
      size: 48 * 1024,
      seed: 7,
    });
    const server = await updateServer();
    server.answer = (_request, index) =>
      index === 0
        ? { head: okHead(image.length, { 'x-MD5': md5(image) }), body: image }
        : { head: notModified() };
    const emulator = await start(server);
    const factory = buildEsp32Image({ ...FACTORY, secureVersion: 0, chip: 0 });
    const first = await server.waitForRequests(1);
    expect(first.requestLine).toBe('GET /fw HTTP/1.0');
    expect(first.headerLines).toEqual([
      `Host: 127.0.0.1:${server.port}`,
      'User-Agent: ESP32-http-Update',
      'Connection: close',
      'Cache-Control: no-cache',
      'x-ESP32-STA-MAC: 24:0A:C4:01:02:03',
      'x-ESP32-AP-MAC: 24:0A:C4:01:02:04',
      // The next OTA slot of the factory + two OTA layout is 1 MiB.
      'x-ESP32-free-space: 1048576',
      `x-ESP32-sketch-size: ${factory.length}`,
      `x-ESP32-sketch-md5: ${md5(factory)}`,
      `x-ESP32-sketch-sha256: ${Buffer.from(factory.subarray(-32)).toString('hex').toUpperCase()}`,
      'x-ESP32-chip-size: 4194304',
      'x-ESP32-sdk-version: v4.4.7',
      'x-ESP32-mode: sketch',
      'x-ESP32-version: 1.0.0',
    ]);
    await waitForLine(emulator, /^rst:0xc \(SW_CPU_RESET\)/);
    await waitForLine(emulator, /app_init: App version:\s+2\.0\.0$/);
    await waitForLine(emulator, /^Sketch http-update-demo version 2\.0\.0$/);
    const second = await server.waitForRequests(2);
    expect(second.header('x-ESP32-sketch-md5')).toBe(md5(image));
    expect(second.header('x-ESP32-sketch-sha256')).toBe(
      Buffer.from(image.subarray(-32)).toString('hex').toUpperCase(),
    );
    expect(second.header('x-ESP32-version')).toBe('2.0.0');
  });

  it('maps 401 to -104 (ESP8266 says -108) and refuses a non-0xE9 head with -106, keeping the factory app', async () => {
    const unauthorized = await updateServer();
    unauthorized.answer = () => ({ head: statusOnly(401, 'Unauthorized') });
    const first = await start(unauthorized);
    expect(await waitForLine(first, /^HTTP_UPDATE_/)).toBe(
      'HTTP_UPDATE_FAILED Error (-104): Wrong HTTP Code',
    );

    const gzip = new Uint8Array(4096).fill(0x1f);
    const junk = await updateServer();
    junk.answer = () => ({ head: okHead(gzip.length), body: gzip });
    const second = await start(junk);
    // No gzip on ESP32: only 0xE9 passes the peek.
    expect(await waitForLine(second, /^HTTP_UPDATE_/)).toBe(
      'HTTP_UPDATE_FAILED Error (-106): Verify Bin Header Failed',
    );
    const before = consoleText(second).length;
    await second.device.resetPin();
    await waitForLine(second, /^Sketch \S+ version 1\.0\.0$/, before);
  });

  it('an FS update without a SPIFFS partition fails with -108 Partition Could Not be Found', async () => {
    const server = await updateServer();
    server.answer = () => ({ head: okHead(4096), body: new Uint8Array(4096) });
    const emulator = await start(server, { options: { target: 'spiffs' } });
    expect(await waitForLine(emulator, /^HTTP_UPDATE_/)).toBe(
      'HTTP_UPDATE_FAILED Error (-108): Partition Could Not be Found',
    );
    expect(server.requests[0]!.header('x-ESP32-mode')).toBe('spiffs');
  });
});

describe('http-update: the console through a real pseudo-terminal', () => {
  it('shows the restart and the new version on the PTY after a pulled update', async (context) => {
    if (socatMissing !== undefined) return context.skip(socatMissing);
    const image = buildArduinoSketch({ appSize: 40 * 1024, seed: 44 });
    writeSketchDescriptor(image, { version: '4.4.0', projectName: 'http-update-demo' });
    const server = await updateServer();
    server.answer = (_request, index) =>
      index === 1
        ? { head: okHead(image.length, { 'x-MD5': md5(image) }), body: image }
        : { head: notModified() };
    const emulator = await startEmulator({
      profile: 'http-update',
      platform: 'esp8266',
      console: 'pty',
      options: { updateUrl: server.url('/fw') },
    });
    cleanups.push(() => emulator.stop());
    await server.waitForRequests(1);
    const port = new SerialPort({ path: emulator.endpoints().console!, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    cleanups.push(
      () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
    );
    let text = '';
    port.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    // The reset pin reboots the sketch; its boot-time check now gets the image and restarts again.
    await emulator.device.resetPin();
    const deadline = Date.now() + 5000;
    while (!text.includes('Sketch http-update-demo version 4.4.0\r\n') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).toContain('ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n');
    expect(text).toContain('ets Jan  8 2013,rst cause:3, boot mode:(3,6)\r\n');
    expect(text).toContain('Sketch http-update-demo version 4.4.0\r\n');
    expect(text.indexOf('rst cause:3')).toBeLessThan(text.indexOf('version 4.4.0'));
  });
});

describe('http-update: when it checks', () => {
  it('checks every checkIntervalMs without a boot check when checkOnBoot is off', async () => {
    const server = await updateServer();
    const emulator = await start(server, { options: { checkOnBoot: false, checkIntervalMs: 80 } });
    await server.waitForRequests(3);
    expect(
      consoleText(emulator).filter((line) => line === 'HTTP_UPDATE_NO_UPDATES').length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('does not check at all with checkOnBoot off and no interval', async () => {
    const server = await updateServer();
    await start(server, { options: { checkOnBoot: false } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.requests).toHaveLength(0);
  });

  it('checks when `ota check` is typed on the UART (PTY)', async (context) => {
    if (socatMissing !== undefined) return context.skip(socatMissing);
    const server = await updateServer();
    const emulator = await startEmulator({
      profile: 'http-update',
      platform: 'esp8266',
      console: 'pty',
      options: { updateUrl: server.url('/fw'), checkOnBoot: false },
    });
    cleanups.push(() => emulator.stop());
    const port = new SerialPort({ path: emulator.endpoints().console!, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    cleanups.push(
      () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
    );
    let text = '';
    port.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.requests).toHaveLength(0);
    port.write('ota check\r\n');
    await server.waitForRequests(1);
    const deadline = Date.now() + 3000;
    while (!text.includes('HTTP_UPDATE_NO_UPDATES\r\n') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).toContain('HTTP_UPDATE_NO_UPDATES\r\n');
  });
});

describe('http-update over HTTPS', () => {
  it('trusts the server through its CA or its SHA-1 fingerprint, and refuses it otherwise with -1', async () => {
    const certificates = await createTestCertificates();
    const server = await updateServer({ key: certificates.keyPem, cert: certificates.certPem });
    const fingerprint = new X509Certificate(certificates.certPem).fingerprint;
    const viaCa = await start(server, { platform: 'esp8266', options: { ca: certificates.caPem } });
    expect(await waitForLine(viaCa, /^HTTP_UPDATE_/)).toBe('HTTP_UPDATE_NO_UPDATES');
    const viaFingerprint = await start(server, { platform: 'esp8266', options: { fingerprint } });
    expect(await waitForLine(viaFingerprint, /^HTTP_UPDATE_/)).toBe('HTTP_UPDATE_NO_UPDATES');
    expect(server.requests).toHaveLength(2);

    const otherCa = (await createTestCertificates()).caPem;
    const untrusted = await start(server, { platform: 'esp8266', options: { ca: otherCa } });
    expect(await waitForLine(untrusted, /^HTTP_UPDATE_/)).toBe(
      'HTTP_UPDATE_FAILED Error (-1): HTTP error: connection failed',
    );
    const wrongPin = await start(server, { options: { fingerprint: fingerprint.replace(/^../, '00') } });
    // The ESP32 HTTPClient words -1 as "connection refused".
    expect(await waitForLine(wrongPin, /^HTTP_UPDATE_/)).toBe(
      'HTTP_UPDATE_FAILED Error (-1): HTTP error: connection refused',
    );
    expect(server.requests).toHaveLength(2);
  });
});
