import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:http';
import { Socket } from 'node:net';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../../boot/index.ts';
import { socatMissing } from '../../console/socat.test-support.ts';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import {
  consoleText,
  powerOnAfterCutAndReadVersion,
  resetAndReadVersion,
  settle,
  waitForLine,
} from '../test-support/console-lines.ts';

// Expected bytes come from reference/arduino-ota.md §2, not from the firmware's constants.
const SUCCESS_BODY = '<META http-equiv="refresh" content="15;URL=/">Update Success! Rebooting...';
const BOOT_AFTER_RESTART = 'ets Jan  8 2013,rst cause:3, boot mode:(3,6)';

const running: StartedEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.stop()));
});

async function start(options: Parameters<typeof startEmulator>[0] extends infer O ? Partial<O> : never) {
  const emulator = await startEmulator({ profile: 'web-update', platform: 'esp8266', ...options });
  running.push(emulator);
  return emulator;
}

function sketch(version: string, seed: number, appSize = 48 * 1024): Uint8Array {
  const bin = buildArduinoSketch({ appSize, seed });
  writeSketchDescriptor(bin, { version, projectName: 'web-update-demo' });
  return bin;
}

function multipart(field: string, bytes: Uint8Array, boundary = '----otaBoundary7MA4YWxk'): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="image.bin"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function httpRequest(
  emulator: StartedEmulator,
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const { port, host } = emulator.endpoints().services.http!;
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    if (body) {
      req.setHeader('Content-Type', 'multipart/form-data; boundary=----otaBoundary7MA4YWxk');
      req.setHeader('Content-Length', body.length);
    }
    req.end(body);
  });
}

function upload(
  emulator: StartedEmulator,
  field: string,
  bytes: Uint8Array,
  headers: Record<string, string> = {},
) {
  return httpRequest(emulator, 'POST', '/update', multipart(field, bytes), headers);
}

function restarts(emulator: StartedEmulator): number {
  return consoleText(emulator).filter((line) => line === BOOT_AFTER_RESTART).length;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('web-update (ESP8266HTTPUpdateServer): form and routes', () => {
  it('serves the upload form with the firmware and filesystem fields, and the CORS OPTIONS answer on 3.1.x', async () => {
    const emulator = await start({});
    const page = await httpRequest(emulator, 'GET', '/update');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html');
    expect(page.body).toMatch(/<form[^>]*method='POST'[^>]*enctype='multipart\/form-data'/);
    expect(page.body).toMatch(/type='file' accept='\.bin,\.bin\.gz' name='firmware'/);
    expect(page.body).toMatch(/name='filesystem'/);
    const options = await httpRequest(emulator, 'OPTIONS', '/update');
    expect(options.status).toBe(200);
    expect(options.body).toBe('y');
    expect(options.headers['access-control-allow-origin']).toBe('*');
    expect(options.headers['access-control-allow-headers']).toBe('*');
  });

  it('has no OPTIONS handler before core 3.1.0', async () => {
    const emulator = await start({ esp8266: { core: '3.0.2' } });
    expect((await httpRequest(emulator, 'OPTIONS', '/update')).status).toBe(404);
    expect((await httpRequest(emulator, 'GET', '/update')).status).toBe(200);
  });

  it('defect form-missing-fields: the page has one file field `update` and neither `firmware` nor `filesystem`', async () => {
    const conforming = await start({});
    const defective = await start({ defects: ['form-missing-fields'] });
    const good = await httpRequest(conforming, 'GET', '/update');
    const bad = await httpRequest(defective, 'GET', '/update');
    expect(good.body).toMatch(/type='file'[^>]*name='firmware'/);
    expect(good.body).toMatch(/type='file'[^>]*name='filesystem'/);
    expect(bad.status).toBe(200);
    expect(bad.headers['content-type']).toBe('text/html');
    expect(bad.body).toMatch(/<form[^>]*method='POST'[^>]*enctype='multipart\/form-data'/);
    expect(bad.body).toMatch(/type='file' name='update'/);
    expect(bad.body).not.toMatch(/name='firmware'/);
    expect(bad.body).not.toMatch(/name='filesystem'/);
    // The server behind the page is unchanged: the `update` field still flashes firmware.
    expect((await upload(defective, 'update', sketch('2.0.0', 5))).body).toBe(SUCCESS_BODY);
    await waitForLine(defective, /^Sketch \S+ version 2\.0\.0$/);
  });

  it('serves on the configured path only', async () => {
    const emulator = await start({ options: { path: '/firmware' } });
    expect((await httpRequest(emulator, 'GET', '/firmware')).status).toBe(200);
    expect((await httpRequest(emulator, 'GET', '/update')).status).toBe(404);
  });
});

describe('web-update (ESP8266): authentication', () => {
  const credentials = { username: 'admin', password: 's3cret' };

  it('answers 401 with WWW-Authenticate: Basic realm="Login Required" and flashes nothing without credentials', async () => {
    const emulator = await start({ options: credentials });
    const page = await httpRequest(emulator, 'GET', '/update');
    expect(page.status).toBe(401);
    expect(page.headers['www-authenticate']).toBe('Basic realm="Login Required"');
    expect(page.body).toBe('');
    const denied = await upload(emulator, 'firmware', sketch('2.0.0', 5), {
      Authorization: basic('admin', 'wrong'),
    });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Basic realm="Login Required"');
    await settle();
    expect(restarts(emulator)).toBe(0);
    expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
  });

  it('accepts Basic credentials and reboots into the uploaded sketch', async () => {
    const emulator = await start({ options: credentials });
    const auth = { Authorization: basic('admin', 's3cret') };
    expect((await httpRequest(emulator, 'GET', '/update', undefined, auth)).status).toBe(200);
    const reply = await upload(emulator, 'firmware', sketch('2.0.0', 5), auth);
    expect(reply).toMatchObject({ status: 200, body: SUCCESS_BODY });
    expect(await waitForLine(emulator, /^Sketch \S+ version 2\.0\.0$/)).toBeDefined();
  });

  it('accepts Digest credentials answering the Digest challenge', async () => {
    const emulator = await start({ options: { ...credentials, authScheme: 'digest' } });
    const challenge = await httpRequest(emulator, 'GET', '/update');
    expect(challenge.status).toBe(401);
    const challengeFormat =
      /^Digest realm="Login Required", qop="auth", nonce="[0-9a-f]{32}", opaque="[0-9a-f]{32}"$/;
    expect(String(challenge.headers['www-authenticate'])).toMatch(challengeFormat);
    // Every 401 issues a fresh nonce and opaque, so each answer uses the latest challenge.
    const digestFor = (password: string, header: string) => {
      const nonce = /nonce="([^"]+)"/.exec(header)![1]!;
      const opaque = /opaque="([^"]+)"/.exec(header)![1]!;
      const md5 = (text: string) => createHash('md5').update(text).digest('hex');
      const ha1 = md5(`admin:Login Required:${password}`);
      const ha2 = md5('POST:/update');
      const response = md5(`${ha1}:${nonce}:00000001:0a4f113b:auth:${ha2}`);
      return `Digest username="admin", realm="Login Required", nonce="${nonce}", uri="/update", qop=auth, nc=00000001, cnonce="0a4f113b", response="${response}", opaque="${opaque}"`;
    };
    const wrong = await upload(emulator, 'firmware', sketch('2.0.0', 5), {
      Authorization: digestFor('nope', String(challenge.headers['www-authenticate'])),
    });
    expect(wrong.status).toBe(401);
    const latest = String(wrong.headers['www-authenticate']);
    expect(latest).toMatch(challengeFormat);
    const reply = await upload(emulator, 'firmware', sketch('2.0.0', 5), {
      Authorization: digestFor('s3cret', latest),
    });
    expect(reply).toMatchObject({ status: 200, body: SUCCESS_BODY });
    expect(await waitForLine(emulator, /^Sketch \S+ version 2\.0\.0$/)).toBeDefined();
  });

  it('defect no-auth: flashes an upload that carries no credentials', async () => {
    const emulator = await start({ options: credentials, defects: ['no-auth'] });
    const reply = await upload(emulator, 'firmware', sketch('6.6.6', 6));
    expect(reply).toMatchObject({ status: 200, body: SUCCESS_BODY });
    expect(await waitForLine(emulator, /^Sketch \S+ version 6\.6\.6$/)).toBeDefined();
  });
});

describe('web-update (ESP8266): uploads', () => {
  it('answers the success page, restarts and runs the new sketch', async () => {
    const emulator = await start({});
    expect(await waitForLine(emulator, /^Sketch \S+ version 1\.0\.0$/)).toBeDefined();
    const reply = await upload(emulator, 'firmware', sketch('2.0.0', 5));
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/html');
    expect(reply.headers['access-control-allow-origin']).toBe('*');
    expect(reply.body).toBe(SUCCESS_BODY);
    const before = consoleText(emulator).indexOf(BOOT_AFTER_RESTART);
    await waitForLine(emulator, /^Sketch \S+ version 2\.0\.0$/);
    expect(before === -1 || restarts(emulator) === 1).toBe(true);
    expect(consoleText(emulator)).toContain(BOOT_AFTER_RESTART);
    // eboot copied the staged image (reference §4.7: `@cp:` then 0).
    expect(consoleText(emulator).some((line) => /^@cp:B?0$/.test(line))).toBe(true);
    expect(await resetAndReadVersion(emulator)).toBe('2.0.0');
  });

  it('defect wrong-success-body: flashes and restarts, but answers 200 text/plain `OK` instead of the success page', async () => {
    const conforming = await start({});
    const defective = await start({ defects: ['wrong-success-body'] });
    const good = await upload(conforming, 'firmware', sketch('2.0.0', 5));
    const bad = await upload(defective, 'firmware', sketch('2.0.0', 5));
    expect(good.body).toBe(SUCCESS_BODY);
    expect(good.headers['content-type']).toBe('text/html');
    expect(bad.status).toBe(200);
    expect(bad.headers['content-type']).toBe('text/plain');
    expect(bad.body).toBe('OK');
    await waitForLine(defective, /^Sketch \S+ version 2\.0\.0$/);
    await waitForLine(conforming, /^Sketch \S+ version 2\.0\.0$/);
  });

  it('rejects a file that is not an image with 200 `Update error: ERROR[10]…` and keeps the old sketch', async () => {
    const emulator = await start({});
    const notAnImage = new Uint8Array(20_000).fill(0x42);
    const reply = await upload(emulator, 'firmware', notAnImage);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('Update error: ERROR[10]: Magic byte is not 0xE9\n');
    await settle();
    expect(restarts(emulator)).toBe(0);
    expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
    // The acceptance twin on the same device: a real image still goes through.
    expect((await upload(emulator, 'firmware', sketch('2.0.0', 5))).body).toBe(SUCCESS_BODY);
  });

  it('words the error as the older core does (3.0.2: `Magic byte is wrong, not 0xE9` and CRLF)', async () => {
    const emulator = await start({ esp8266: { core: '3.0.2' } });
    const reply = await upload(emulator, 'firmware', new Uint8Array(5000).fill(1));
    expect(reply.body).toBe('Update error: ERROR[10]: Magic byte is wrong, not 0xE9\r\n');
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('rejects an image larger than the free sketch space with `ERROR[4]: Not Enough Space`', async () => {
    const emulator = await start({});
    // 4M/FS2M: FS starts at 0x200000; the running sketch takes 0x11000 → at most 0x1EE000 can be written.
    const oversize = sketch('9.9.9', 9, 0x1f0000);
    const reply = await upload(emulator, 'firmware', oversize);
    expect(reply).toMatchObject({ status: 200, body: 'Update error: ERROR[4]: Not Enough Space\n' });
    await settle();
    expect(restarts(emulator)).toBe(0);
    expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
  });

  it('writes a filesystem upload to the FS area and restarts, keeping the sketch', async () => {
    const emulator = await start({});
    const fsImage = new Uint8Array(16 * 1024).map((_, i) => (i * 7) & 0xff);
    const reply = await upload(emulator, 'filesystem', fsImage);
    expect(reply).toMatchObject({ status: 200, body: SUCCESS_BODY });
    await waitForLine(emulator, /^ets Jan {2}8 2013,rst cause:3/);
    await waitForLine(
      emulator,
      /^HTTPUpdateServer ready!/,
      consoleText(emulator).indexOf(BOOT_AFTER_RESTART),
    );
    expect(restarts(emulator)).toBe(1);
    expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
    // Extra check beside the observable one: the bytes landed at FS_start (0x200000).
    expect(
      Buffer.from(emulator.device.flash.read(0x200000, fsImage.length)).equals(Buffer.from(fsImage)),
    ).toBe(true);
  });

  it('defect reboots-after-failed-upload: restarts after answering the error', async () => {
    const conforming = await start({});
    const defective = await start({ defects: ['reboots-after-failed-upload'] });
    for (const emulator of [conforming, defective]) {
      const reply = await upload(emulator, 'firmware', new Uint8Array(8192).fill(0x42));
      expect(reply.body).toBe('Update error: ERROR[10]: Magic byte is not 0xE9\n');
    }
    await settle();
    expect(restarts(conforming)).toBe(0);
    expect(restarts(defective)).toBe(1);
  });

  it('restarts the library’s delay(100) after its answer, the delay it reports with its endpoints', async () => {
    const defective = await start({ defects: ['reboots-after-failed-upload'] });
    expect(defective.endpoints().restartDelayMs).toBe(100);
    const before = consoleText(defective).length;
    await upload(defective, 'firmware', new Uint8Array(8192).fill(0x42));
    const answeredAt = performance.now();
    await waitForLine(defective, /^ets Jan {2}8 2013,rst cause:3/, before);
    // The console is polled every few ms, so the restart is seen a little after it happened.
    expect(performance.now() - answeredAt).toBeGreaterThanOrEqual(90);
  });
});

/** POSTs a multipart body announced in full, sends `sendBytes` of it, then closes our side. */
async function truncatedUpload(emulator: StartedEmulator, body: Buffer, sendBytes: number): Promise<string> {
  const { port, host } = emulator.endpoints().services.http!;
  const socket = new Socket();
  socket.connect(port, host);
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString('latin1');
  });
  socket.write(
    `POST /update HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
      'Content-Type: multipart/form-data; boundary=----otaBoundary7MA4YWxk\r\n' +
      `Content-Length: ${body.length}\r\n\r\n`,
  );
  socket.write(body.subarray(0, sendBytes));
  socket.end();
  await once(socket, 'close');
  return answer;
}

describe('web-update (ESP8266): a client that drops mid-upload', () => {
  it('answers nothing, discards the partial image and keeps running the old sketch', async () => {
    const emulator = await start({});
    const body = multipart('firmware', sketch('2.0.0', 5));
    expect(await truncatedUpload(emulator, body, body.length >> 1)).toBe('');
    await settle();
    expect(restarts(emulator)).toBe(0);
    expect(await resetAndReadVersion(emulator)).toBe('1.0.0');
    expect((await upload(emulator, 'firmware', sketch('2.0.0', 5))).body).toBe(SUCCESS_BODY);
  });

  it('defect accepts-truncated-upload: reboots into the half-written image, which no longer runs 1.0.0', async () => {
    const emulator = await start({ defects: ['accepts-truncated-upload'] });
    const body = multipart('firmware', sketch('2.0.0', 5));
    expect(await truncatedUpload(emulator, body, body.length >> 1)).toBe('');
    await waitForLine(emulator, /^ets Jan {2}8 2013,rst cause:3/);
    await settle();
    const afterRestart = consoleText(emulator).slice(consoleText(emulator).indexOf(BOOT_AFTER_RESTART));
    expect(afterRestart.some((line) => /^Sketch \S+ version 1\.0\.0$/.test(line))).toBe(false);
  });
});

describe('web-update (ESP8266): a power cut during the upload', () => {
  async function cutHalfwayAndPowerOn(defects: string[]): Promise<string> {
    const emulator = await start({ defects });
    await waitForLine(emulator, /^Sketch \S+ version 1\.0\.0$/);
    const image = sketch('2.0.0', 5);
    emulator.device.cutPowerAfterBytes(image.length >> 1);
    // The device goes dark mid-upload: the connection drops with it.
    await upload(emulator, 'firmware', image).catch(() => undefined);
    return await powerOnAfterCutAndReadVersion(emulator);
  }

  it('staged below the filesystem: the running sketch boots again after power returns', async () => {
    expect(await cutHalfwayAndPowerOn([])).toBe('1.0.0');
  });

  it('defect writes-sketch-in-place: the half-written sketch is what is left at 0x0', async () => {
    expect(await cutHalfwayAndPowerOn(['writes-sketch-in-place'])).toMatch(/^no sketch booted/);
  });
});

describe('web-update (ESP32 HTTPUpdateServer)', () => {
  it('answers a filesystem upload without a SPIFFS partition with `Update error: Bad Size Given`', async () => {
    const emulator = await start({ platform: 'esp32' });
    const reply = await upload(emulator, 'filesystem', new Uint8Array(4096).fill(7));
    expect(reply).toMatchObject({ status: 200, body: 'Update error: Bad Size Given\r\n' });
  });

  it('flashes the next OTA slot, answers the success page without CORS headers and restarts into it', async () => {
    const emulator = await start({ platform: 'esp32' });
    const image = buildEsp32Image({
      version: '2.0.0',
      projectName: 'web-update-demo',
      size: 48 * 1024,
      seed: 3,
    });
    const reply = await upload(emulator, 'firmware', image);
    expect(reply).toMatchObject({ status: 200, body: SUCCESS_BODY });
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    await waitForLine(emulator, /^rst:0xc \(SW_CPU_RESET\)/);
    await waitForLine(emulator, /app_init: App version:\s+2\.0\.0$/);
    await waitForLine(emulator, /^Sketch web-update-demo version 2\.0\.0$/);
    expect((await httpRequest(emulator, 'OPTIONS', '/update')).status).toBe(404);
  });

  it('answers a wrong file with `Update error: Decryption error` + CRLF (newest Update) and keeps the factory app', async () => {
    const emulator = await start({ platform: 'esp32' });
    const reply = await upload(emulator, 'firmware', new Uint8Array(10_000).fill(0x42));
    expect(reply).toMatchObject({ status: 200, body: 'Update error: Decryption error\r\n' });
    await settle();
    const before = consoleText(emulator).length;
    await emulator.device.resetPin();
    await waitForLine(emulator, /^Sketch web-update-demo version 1\.0\.0$/, before);
    expect(consoleText(emulator).some((line) => line.includes('SW_CPU_RESET'))).toBe(false);
  });
});

describe('web-update: the console through a real pseudo-terminal', () => {
  it('shows the restart and the new version on the PTY after an upload', async (context) => {
    if (socatMissing !== undefined) return context.skip(socatMissing);
    const emulator = await start({ console: 'pty' });
    const port = new SerialPort({ path: emulator.endpoints().console!, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    let text = '';
    port.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    try {
      expect((await upload(emulator, 'firmware', sketch('7.0.0', 70))).body).toBe(SUCCESS_BODY);
      const deadline = Date.now() + 5000;
      while (!text.includes('version 7.0.0\r\n') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(text).toContain(`${BOOT_AFTER_RESTART}\r\n`);
      expect(text).toContain('Sketch web-update-demo version 7.0.0\r\n');
      expect(text).toMatch(
        /HTTPUpdateServer ready! Open http:\/\/127\.0\.0\.1:\d+\/update in your browser\r\n/,
      );
    } finally {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
  });
});
