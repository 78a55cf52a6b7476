import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeSketchDescriptor } from '../../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../../boot/index.ts';
import { type EmulatorOptions, type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import {
  consoleText,
  powerOnAfterCutAndReadVersion,
  resetAndReadVersion,
  settle,
  waitForLine,
} from '../test-support/console-lines.ts';
import { watchListenerLeaks } from '../test-support/listener-leaks.ts';
import { notModified, okHead, ScriptedUpdateServer, statusOnly } from './update-server.test-support.ts';

const BOOT_AFTER_RESTART = 'ets Jan  8 2013,rst cause:3, boot mode:(3,6)';
const FACTORY = { version: '1.0.0', projectName: 'http-update-demo', size: 64 * 1024, seed: 1 };
const IDENTITY = { staMac: '18:FE:34:11:22:33', sdkVersion: '2.2.2-dev(38a443e)' };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sketch(version: string, seed: number, appSize = 48 * 1024, flashSize?: '16MB'): Uint8Array {
  const bin = buildArduinoSketch({ appSize, seed, ...(flashSize ? { flashSize } : {}) });
  writeSketchDescriptor(bin, { version, projectName: 'http-update-demo' });
  return bin;
}

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

async function updateServer(): Promise<ScriptedUpdateServer> {
  const server = new ScriptedUpdateServer();
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
    platform: 'esp8266',
    factory: FACTORY,
    ...rest,
    options: { updateUrl: server.url('/esp/update.php?channel=stable'), ...IDENTITY, ...options },
  });
  cleanups.push(() => emulator.stop());
  return emulator;
}

function restarts(emulator: StartedEmulator): number {
  return consoleText(emulator).filter((line) => line === BOOT_AFTER_RESTART).length;
}

/** Boots, answers the boot-time check with `answer`, and returns the console line the sketch printed. */
async function checkOnce(
  answer: Parameters<ScriptedUpdateServer['answer']>[0] extends never
    ? never
    : ScriptedUpdateServer['answer'],
  extra: Partial<EmulatorOptions> = {},
): Promise<{ emulator: StartedEmulator; server: ScriptedUpdateServer; result: string }> {
  const server = await updateServer();
  server.answer = answer;
  const emulator = await start(server, extra);
  const result = await waitForLine(emulator, /^HTTP_UPDATE_/);
  return { emulator, server, result };
}

describe('http-update (ESP8266httpUpdate): the request', () => {
  it('sends GET … HTTP/1.0 with every x-ESP8266-* header in order, each with the chip’s true value', async () => {
    const { server, result } = await checkOnce(() => ({ head: notModified() }));
    expect(result).toBe('HTTP_UPDATE_NO_UPDATES');
    const factory = buildArduinoSketch({ appSize: FACTORY.size, seed: FACTORY.seed });
    writeSketchDescriptor(factory, { version: FACTORY.version, projectName: FACTORY.projectName });
    const sketchSize = factory.length;
    const request = server.requests[0]!;
    expect(request.requestLine).toBe('GET /esp/update.php?channel=stable HTTP/1.0');
    expect(request.headerLines).toEqual([
      `Host: 127.0.0.1:${server.port}`,
      'User-Agent: ESP8266-http-Update',
      'Connection: close',
      `x-ESP8266-Chip-ID: ${0x112233}`,
      'x-ESP8266-STA-MAC: 18:FE:34:11:22:33',
      'x-ESP8266-AP-MAC: 1A:FE:34:11:22:33',
      // 4M/FS2M: FS_start 0x200000 minus the running sketch rounded up to a sector.
      `x-ESP8266-free-space: ${0x200000 - Math.ceil(sketchSize / 4096) * 4096}`,
      `x-ESP8266-sketch-size: ${sketchSize}`,
      `x-ESP8266-sketch-md5: ${md5(factory)}`,
      'x-ESP8266-chip-size: 4194304',
      'x-ESP8266-sdk-version: 2.2.2-dev(38a443e)',
      'x-ESP8266-mode: sketch',
      'x-ESP8266-version: 1.0.0',
      'Content-Length: 0',
    ]);
  });

  it('sends Basic credentials from the URL and leaves the port out of Host only for 80/443', async () => {
    const server = await updateServer();
    const emulator = await start(server, {
      options: { updateUrl: `http://ota:pw@127.0.0.1:${server.port}/fw.bin` },
    });
    await waitForLine(emulator, /^HTTP_UPDATE_NO_UPDATES$/);
    const request = server.requests[0]!;
    expect(request.headerLines.slice(0, 4)).toEqual([
      `Host: 127.0.0.1:${server.port}`,
      'User-Agent: ESP8266-http-Update',
      `Authorization: Basic ${Buffer.from('ota:pw').toString('base64')}`,
      'Connection: close',
    ]);
  });

  it('defect wrong-header-values: the sketch MD5 and free space are not those of the running sketch', async () => {
    const good = await checkOnce(() => ({ head: notModified() }));
    const bad = await checkOnce(() => ({ head: notModified() }), { defects: ['wrong-header-values'] });
    const goodRequest = good.server.requests[0]!;
    const badRequest = bad.server.requests[0]!;
    expect(badRequest.header('x-ESP8266-sketch-md5')).not.toBe(goodRequest.header('x-ESP8266-sketch-md5'));
    expect(badRequest.header('x-ESP8266-free-space')).not.toBe(goodRequest.header('x-ESP8266-free-space'));
    expect(badRequest.header('x-ESP8266-sketch-size')).toBe(goodRequest.header('x-ESP8266-sketch-size'));
  });
});

describe('http-update (ESP8266): answers without an update', () => {
  it('304: HTTP_UPDATE_NO_UPDATES, nothing written, no restart', async () => {
    const { emulator } = await checkOnce(() => ({ head: notModified() }));
    const stagingBefore = Buffer.from(emulator.device.flash.read(0x100000, 4096));
    await settle();
    expect(restarts(emulator)).toBe(0);
    expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
    expect(Buffer.from(emulator.device.flash.read(0x100000, 4096)).equals(stagingBefore)).toBe(true);
  });

  it.each([
    [404, 'Not Found', '(-102): File Not Found (404)'],
    [403, 'Forbidden', '(-103): Forbidden (403)'],
    [401, 'Unauthorized', '(-108): Unauthorized (401)'],
    [500, 'Internal Server Error', '(-104): Wrong HTTP Code'],
  ])('%i: HTTP_UPDATE_FAILED with its code and text, old sketch kept', async (status, reason, text) => {
    const { emulator, result } = await checkOnce(() => ({ head: statusOnly(status, reason) }));
    expect(result).toBe(`HTTP_UPDATE_FAILED Error ${text}`);
    await settle();
    expect(restarts(emulator)).toBe(0);
    expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
  });

  it('401 is -104 on core 2.7.4, which predates HTTP_UE_SERVER_UNAUTHORIZED', async () => {
    const { result } = await checkOnce(() => ({ head: statusOnly(401, 'Unauthorized') }), {
      esp8266: { core: '2.7.4' },
    });
    expect(result).toBe('HTTP_UPDATE_FAILED Error (-104): Wrong HTTP Code');
  });

  it('defect flashes-on-304: a 304 carrying a body is flashed and booted', async () => {
    const image = sketch('3.0.4', 34);
    const answer = () => ({
      head: `HTTP/1.0 304 Not Modified\r\nContent-Length: ${image.length}\r\nx-MD5: ${md5(image)}\r\n\r\n`,
      body: image,
    });
    const good = await checkOnce(answer);
    expect(good.result).toBe('HTTP_UPDATE_NO_UPDATES');
    const server = await updateServer();
    server.answer = (_request, index) => (index === 0 ? answer() : { head: notModified() });
    const bad = await start(server, { defects: ['flashes-on-304'] });
    await waitForLine(bad, /^Sketch \S+ version 3\.0\.4$/);
    await settle();
    expect(restarts(good.emulator)).toBe(0);
  });

  // Found by the pull-side network fuzzing (a device stuck polling for 15 s): every check left an
  // abort listener on the boot's signal, so a sketch that checks on an interval leaked without end.
  it('checks hundreds of times in one boot and leaves nothing behind on the boot (no listener leak)', async () => {
    const listeners = watchListenerLeaks();
    cleanups.push(listeners.stop);
    const server = await updateServer();
    const emulator = await start(server, { options: { checkIntervalMs: 1 } });
    await server.waitForRequests(300, 15_000);
    expect(consoleText(emulator).filter((line) => line === 'HTTP_UPDATE_NO_UPDATES').length).toBeGreaterThan(
      250,
    );
    expect(restarts(emulator)).toBe(0);
    expect(listeners.leaks).toEqual([]);
  });
});

describe('http-update (ESP8266): 200 with an image', () => {
  it('flashes, restarts into the new sketch, and the next request carries its MD5 and version', async () => {
    const image = sketch('2.0.0', 20);
    const server = await updateServer();
    server.answer = (_request, index) =>
      index === 0
        ? { head: okHead(image.length, { 'x-MD5': md5(image) }), body: image }
        : { head: notModified() };
    const emulator = await start(server);
    await waitForLine(emulator, /^Sketch \S+ version 2\.0\.0$/);
    expect(consoleText(emulator)).toContain(BOOT_AFTER_RESTART);
    // The library restarts from inside update(): no HTTP_UPDATE_OK line before the reboot.
    expect(consoleText(emulator)).not.toContain('HTTP_UPDATE_OK');
    const second = await server.waitForRequests(2);
    expect(second.header('x-ESP8266-sketch-md5')).toBe(md5(image));
    expect(second.header('x-ESP8266-sketch-size')).toBe(String(image.length));
    expect(second.header('x-ESP8266-version')).toBe('2.0.0');
    await waitForLine(emulator, /^HTTP_UPDATE_NO_UPDATES$/);
    expect(await resetAndReadVersion(emulator)).toBe('2.0.0');
  });

  it('with rebootOnUpdate off prints HTTP_UPDATE_OK and runs the new sketch only after a reset', async () => {
    const image = sketch('2.1.0', 21);
    const { emulator, result } = await checkOnce(
      () => ({ head: okHead(image.length, { 'x-MD5': md5(image).toUpperCase() }), body: image }),
      { options: { rebootOnUpdate: false } },
    );
    expect(result).toBe('HTTP_UPDATE_OK');
    await settle();
    expect(restarts(emulator)).toBe(0);
    expect(await resetAndReadVersion(emulator)).toBe('2.1.0');
  });

  it('rejects an x-MD5 that does not match with Update error 7, and one of the wrong length with -105', async () => {
    const image = sketch('2.0.0', 20);
    const wrong = md5(new Uint8Array([1, 2, 3]));
    const mismatch = await checkOnce(() => ({ head: okHead(image.length, { 'x-MD5': wrong }), body: image }));
    expect(mismatch.result).toBe(
      `HTTP_UPDATE_FAILED Error (7): Update error: ERROR[7]: MD5 verification failed: expected: ${wrong}, calculated: ${md5(image)}`,
    );
    const short = await checkOnce(() => ({ head: okHead(image.length, { 'x-MD5': 'abc123' }), body: image }));
    expect(short.result).toBe('HTTP_UPDATE_FAILED Error (-105): Wrong MD5');
    for (const { emulator } of [mismatch, short]) {
      await settle();
      expect(restarts(emulator)).toBe(0);
      expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
    }
  });

  it('defect ignores-x-md5: the mismatching image is flashed and booted', async () => {
    const image = sketch('2.0.0', 20);
    const server = await updateServer();
    server.answer = (_request, index) =>
      index === 0
        ? { head: okHead(image.length, { 'x-MD5': md5(new Uint8Array([9])) }), body: image }
        : { head: notModified() };
    const emulator = await start(server, { defects: ['ignores-x-md5'] });
    await waitForLine(emulator, /^Sketch \S+ version 2\.0\.0$/);
  });

  it('a body shorter than Content-Length ends in Update error 6 after the stream timeout', async () => {
    const image = sketch('2.0.0', 20);
    const { emulator, result } = await checkOnce(
      () => ({ head: okHead(image.length, { 'x-MD5': md5(image) }), body: image, sendBytes: 20_000 }),
      { options: { streamTimeoutMs: 300 } },
    );
    expect(result).toBe('HTTP_UPDATE_FAILED Error (6): Update error: ERROR[6]: Stream Read Timeout');
    await settle();
    expect(restarts(emulator)).toBe(0);
    expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
  });

  it('defect restarts-after-failed-download: restarts after the failure', async () => {
    const image = sketch('2.0.0', 20);
    const answer = () => ({ head: okHead(image.length), body: image, sendBytes: 10_000 });
    const good = await checkOnce(answer, { options: { streamTimeoutMs: 200 } });
    const server = await updateServer();
    server.answer = answer;
    const bad = await start(server, {
      defects: ['restarts-after-failed-download'],
      options: { streamTimeoutMs: 200 },
    });
    await waitForLine(bad, /^HTTP_UPDATE_FAILED Error \(6\)/);
    await waitForLine(bad, /^ets Jan {2}8 2013,rst cause:3/);
    await settle();
    expect(restarts(good.emulator)).toBe(0);
  });

  it('requires Content-Length: without it -101', async () => {
    const image = sketch('2.0.0', 20);
    const { result } = await checkOnce(() => ({ head: okHead(undefined), body: image }));
    expect(result).toBe('HTTP_UPDATE_FAILED Error (-101): Server Did Not Report Size');
  });

  it('refuses more than the free sketch space with -100', async () => {
    const { result } = await checkOnce(() => ({ head: okHead(0x1f0000), body: sketch('2.0.0', 20) }));
    expect(result).toBe('HTTP_UPDATE_FAILED Error (-100): Not Enough space');
  });

  it('checks the head: not 0xE9/0x1F → -106; built for a larger flash → -107; nothing written', async () => {
    const junk = new Uint8Array(8192).fill(0x42);
    const badMagic = await checkOnce(() => ({ head: okHead(junk.length), body: junk }));
    expect(badMagic.result).toBe('HTTP_UPDATE_FAILED Error (-106): Verify Bin Header Failed');
    const big = sketch('2.0.0', 20, 48 * 1024, '16MB');
    const wrongFlash = await checkOnce(() => ({ head: okHead(big.length), body: big }));
    expect(wrongFlash.result).toBe('HTTP_UPDATE_FAILED Error (-107): New Binary Does Not Fit Flash Size');
    for (const { emulator } of [badMagic, wrongFlash])
      expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
  });

  it('defect skips-magic-check: the junk reaches the Updater, which fails it with error 10 instead of -106', async () => {
    const junk = new Uint8Array(8192).fill(0x42);
    const { result } = await checkOnce(() => ({ head: okHead(junk.length), body: junk }), {
      defects: ['skips-magic-check'],
    });
    expect(result).toBe('HTTP_UPDATE_FAILED Error (10): Update error: ERROR[10]: Magic byte is not 0xE9');
  });
});

describe('http-update (ESP8266): a power cut during the download', () => {
  /** Cuts the power halfway through writing `image`, powers on again and reads the sketch that boots. */
  async function cutHalfwayAndPowerOn(defects: string[]): Promise<string> {
    const image = sketch('3.0.0', 30);
    const server = await updateServer();
    server.answer = () => ({ head: notModified() });
    const emulator = await start(server, { defects });
    await waitForLine(emulator, /^HTTP_UPDATE_NO_UPDATES$/);
    server.answer = () => ({ head: okHead(image.length, { 'x-MD5': md5(image) }), body: image });
    emulator.device.cutPowerAfterBytes(Math.floor(image.length / 2));
    await emulator.device.resetPin();
    return await powerOnAfterCutAndReadVersion(emulator, {
      whileDark: () => {
        server.answer = () => ({ head: notModified() });
      },
    });
  }

  it('staged below the filesystem: the running sketch boots again after power returns', async () => {
    expect(await cutHalfwayAndPowerOn([])).toBe(FACTORY.version);
  });

  it('defect writes-sketch-in-place: the half-written sketch is what is left at 0x0', async () => {
    expect(await cutHalfwayAndPowerOn(['writes-sketch-in-place'])).toMatch(/^no sketch booted/);
  });
});

describe('http-update (ESP8266): updateFS()', () => {
  it('sends mode spiffs, writes the FS in place, prints HTTP_UPDATE_OK and does not restart', async () => {
    const fsImage = new Uint8Array(12 * 1024).map((_, i) => (i * 13) & 0xff);
    const { emulator, server, result } = await checkOnce(
      () => ({ head: okHead(fsImage.length, { 'x-MD5': md5(fsImage) }), body: fsImage }),
      { options: { target: 'spiffs' } },
    );
    expect(server.requests[0]!.header('x-ESP8266-mode')).toBe('spiffs');
    expect(result).toBe('HTTP_UPDATE_OK');
    await settle();
    expect(restarts(emulator)).toBe(0);
    // Beside the console: the bytes are at FS_start (0x200000) of the 4M/FS2M layout.
    expect(
      Buffer.from(emulator.device.flash.read(0x200000, fsImage.length)).equals(Buffer.from(fsImage)),
    ).toBe(true);
  });

  it('restarts after an FS update when the core was built with ATOMIC_FS_UPDATE', async () => {
    const fsImage = new Uint8Array(8 * 1024).fill(0x5a);
    const server = await updateServer();
    server.answer = (_request, index) =>
      index === 0 ? { head: okHead(fsImage.length), body: fsImage } : { head: notModified() };
    const emulator = await start(server, {
      options: { target: 'spiffs' },
      esp8266: { updater: { atomicFsUpdate: true } },
    });
    await waitForLine(emulator, /^ets Jan {2}8 2013,rst cause:3/);
    // eboot copies the staged FS image to FS_start at that boot (reference §4.7).
    await waitForLine(emulator, /^@cp:0$/, consoleText(emulator).indexOf(BOOT_AFTER_RESTART));
    expect(consoleText(emulator)).not.toContain('HTTP_UPDATE_OK');
    expect(
      Buffer.from(emulator.device.flash.read(0x200000, fsImage.length)).equals(Buffer.from(fsImage)),
    ).toBe(true);
    // eboot then tries to load an app from FS_start, fails, resets itself and runs the sketch.
    const afterCopy = consoleText(emulator).indexOf('@cp:0');
    await waitForLine(emulator, /^e:\d+$/, afterCopy);
    await waitForLine(emulator, /^~ld$/, afterCopy);
    await vi.waitFor(() => expect(emulator.device.state).toBe('running'));
  });
});

describe('http-update (ESP8266): transport failures', () => {
  it('a server that is not there, or a URL HTTPClient cannot use, is -1 `HTTP error: connection failed`', async () => {
    const server = await updateServer();
    const gone = new ScriptedUpdateServer();
    const port = await gone.start();
    await gone.stop();
    const refused = await start(server, { options: { updateUrl: `http://127.0.0.1:${port}/fw.bin` } });
    expect(await waitForLine(refused, /^HTTP_UPDATE_/)).toBe(
      'HTTP_UPDATE_FAILED Error (-1): HTTP error: connection failed',
    );
    const ftp = await start(server, { options: { updateUrl: 'ftp://127.0.0.1/fw.bin' } });
    expect(await waitForLine(ftp, /^HTTP_UPDATE_/)).toBe(
      'HTTP_UPDATE_FAILED Error (-1): HTTP error: connection failed',
    );
    await settle();
    expect(restarts(refused) + restarts(ftp)).toBe(0);
  });

  it('a server that never answers is -11 `HTTP error: read Timeout` after the client timeout', async () => {
    const { result } = await checkOnce(
      () => ({ head: '', body: new Uint8Array(0), sendBytes: 0, afterShortBody: 'hang' }),
      {
        options: { clientTimeoutMs: 200 },
      },
    );
    expect(result).toBe('HTTP_UPDATE_FAILED Error (-11): HTTP error: read Timeout');
  });
});

describe('http-update (ESP8266): redirects', () => {
  function redirectingServer(image: Uint8Array, server: ScriptedUpdateServer) {
    return (request: { requestLine: string }) =>
      request.requestLine.startsWith('GET /moved ')
        ? { head: okHead(image.length, { 'x-MD5': md5(image) }), body: image }
        : {
            head: `HTTP/1.0 302 Found\r\nLocation: http://127.0.0.1:${server.port}/moved\r\nContent-Length: 0\r\n\r\n`,
          };
  }

  it('does not follow a 302 by default: -104', async () => {
    const server = await updateServer();
    server.answer = redirectingServer(sketch('2.0.0', 20), server);
    const emulator = await start(server);
    expect(await waitForLine(emulator, /^HTTP_UPDATE_/)).toBe(
      'HTTP_UPDATE_FAILED Error (-104): Wrong HTTP Code',
    );
    expect(server.requests).toHaveLength(1);
  });

  it('follows it with followRedirects strict and flashes from the new location', async () => {
    const server = await updateServer();
    const image = sketch('2.0.0', 20);
    const redirect = redirectingServer(image, server);
    server.answer = (request, index) => (index < 2 ? redirect(request) : { head: notModified() });
    const emulator = await start(server, { options: { followRedirects: 'strict' } });
    await waitForLine(emulator, /^Sketch \S+ version 2\.0\.0$/);
    expect(server.requests[1]!.requestLine).toBe('GET /moved HTTP/1.0');
    expect(server.requests[1]!.header('x-ESP8266-sketch-md5')).toBe(
      server.requests[0]!.header('x-ESP8266-sketch-md5'),
    );
  });

  // Found by `npm run fuzz -- --profile http-update/esp32` (seed 20261207, answer 12): the URL
  // parser threw out of the update, and the sketch printed an emulator fault instead of a result.
  it('a Location of its scheme naming no reachable host fails to connect (-1); one of another scheme leaves the 3xx (-104)', async () => {
    const server = await updateServer();
    const image = sketch('2.0.0', 20);
    const moved = (location: string) => ({
      head: `HTTP/1.1 307 Temporary Redirect\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`,
    });
    const valid = { head: okHead(image.length, { 'x-MD5': md5(image) }), body: image };
    server.answer = (_request, index) =>
      [moved('http://['), moved('ftp://['), valid][index] ?? { head: notModified() };
    const emulator = await start(server, { options: { followRedirects: 'strict', checkIntervalMs: 100 } });
    await waitForLine(emulator, /^Sketch \S+ version 2\.0\.0$/);
    const results = consoleText(emulator).filter((line) => line.startsWith('HTTP_UPDATE_'));
    expect(results.slice(0, 2)).toEqual([
      'HTTP_UPDATE_FAILED Error (-1): HTTP error: connection failed',
      'HTTP_UPDATE_FAILED Error (-104): Wrong HTTP Code',
    ]);
    expect(server.requests.map((request) => request.requestLine)[2]).toBe(
      'GET /esp/update.php?channel=stable HTTP/1.0',
    );
  });
});
