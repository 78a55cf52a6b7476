/**
 * How long the update server's WebServer waits on a client that goes quiet, per platform
 * (ESP8266WebServer.h HTTP_MAX_DATA_WAIT, WiFiClient's 5000 ms Stream timeout, and each core's
 * `_uploadReadByte`): the wait is shortened to 300 ms through the `dataWaitMs` option.
 */
import { once } from 'node:events';
import { request } from 'node:http';
import { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../../boot/index.ts';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';

const DATA_WAIT_MS = 300;
const BOUNDARY = '----otaBoundary7MA4YWxk';
const credentials = { username: 'admin', password: 's3cret' };
const authorization = `Basic ${Buffer.from('admin:s3cret').toString('base64')}`;

const running: StartedEmulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.stop()));
});

async function start(platform: 'esp8266' | 'esp32'): Promise<StartedEmulator> {
  const emulator = await startEmulator({
    profile: 'web-update',
    platform,
    options: { ...credentials, dataWaitMs: DATA_WAIT_MS },
  });
  running.push(emulator);
  return emulator;
}

function image(platform: 'esp8266' | 'esp32'): Uint8Array {
  if (platform === 'esp32')
    return buildEsp32Image({ size: 32 * 1024, version: '2.0.0', projectName: 'web-update-demo', seed: 3 });
  const bin = buildArduinoSketch({ appSize: 32 * 1024, seed: 3 });
  writeSketchDescriptor(bin, { version: '2.0.0', projectName: 'web-update-demo' });
  return bin;
}

function multipart(bytes: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="firmware"; filename="image.bin"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    bytes,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

/** Sends the head and the first `sendBytes` of the body, then goes quiet without closing. */
async function stalledUpload(emulator: StartedEmulator, body: Buffer, sendBytes: number) {
  const { port, host } = emulator.endpoints().services.http!;
  const socket = new Socket();
  socket.connect(port, host);
  await once(socket, 'connect');
  const closed = once(socket, 'close').then(() => Date.now());
  socket.on('error', () => {});
  socket.write(
    `POST /update HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  socket.write(body.subarray(0, sendBytes));
  return { socket, sentAt: Date.now(), closed };
}

function goodUpload(emulator: StartedEmulator, body: Buffer): Promise<number> {
  const { port, host } = emulator.endpoints().services.http!;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method: 'POST',
        path: '/update',
        agent: false,
        headers: {
          Authorization: authorization,
          'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`,
          'Content-Length': body.length,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.each(['esp8266', 'esp32'] as const)('web-update on %s: a client that goes quiet', (platform) => {
  it('an unauthenticated upload stalled before its first part is dropped after the data wait; the next upload installs', async () => {
    const emulator = await start(platform);
    const body = multipart(image(platform));
    const stalled = await stalledUpload(emulator, body, 0);
    const queued = goodUpload(emulator, body);
    const closedAt = await stalled.closed;
    expect(closedAt - stalled.sentAt).toBeGreaterThanOrEqual(DATA_WAIT_MS - 20);
    // The upload that waited its turn behind the stalled one was not dropped for waiting.
    expect(await queued).toBe(200);
  });

  it('a connection that never sends a byte is closed after the data wait', async () => {
    const emulator = await start(platform);
    const { port, host } = emulator.endpoints().services.http!;
    const socket = new Socket();
    socket.connect(port, host);
    await once(socket, 'connect');
    const openedAt = Date.now();
    await once(socket, 'close');
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(DATA_WAIT_MS - 20);
  });
});

describe('web-update: a client that goes quiet inside the file data', () => {
  it('ESP8266 waits as long as the client stays connected (no clock in _uploadReadByte); ESP32 drops it', async () => {
    const esp8266 = await start('esp8266');
    const esp32 = await start('esp32');
    const stalled8266 = await stalledUpload(esp8266, multipart(image('esp8266')), 4096);
    const stalled32 = await stalledUpload(esp32, multipart(image('esp32')), 4096);
    await stalled32.closed;
    await new Promise((resolve) => setTimeout(resolve, 3 * DATA_WAIT_MS));
    expect(stalled8266.socket.destroyed).toBe(false);
    stalled8266.socket.destroy();
    expect(await goodUpload(esp8266, multipart(image('esp8266')))).toBe(200);
  });
});
