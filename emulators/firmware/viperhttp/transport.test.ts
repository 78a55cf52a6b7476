import { afterEach, describe, expect, it } from 'vitest';
import type { StartedEmulator } from '../../start-emulator.ts';
import { ConnectionDroppedError, encodeRequest, RawHttpConnection } from './raw-http-client.test-support.ts';
import { AUTH, boot } from './viperhttp-test-kit.test-support.ts';

const started: StartedEmulator[] = [];
afterEach(async () => {
  for (const emulator of started.splice(0)) await emulator.stop();
});

/** A `/ota/chunk` request whose bytes on the wire (request line + headers + body) are exactly `total`. */
function chunkRequestOfSize(total: number): Buffer {
  const headers = { ...AUTH, 'Content-Type': 'application/octet-stream' };
  let bodyLength = total - encodeRequest('POST', '/ota/chunk', headers, Buffer.alloc(0)).length;
  for (;;) {
    const request = encodeRequest('POST', '/ota/chunk', headers, Buffer.alloc(bodyLength, 0x5a));
    if (request.length === total) return request;
    bodyLength += total - request.length;
  }
}

describe('viperhttp transport limits (reference §1.8)', () => {
  it('answers a request of 4097 bytes with text/plain 413 and closes; 4096 bytes are served', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    expect((await device.post('/ota/begin', { force: true })).status).toBe(200);

    const fits = await RawHttpConnection.open(device.port);
    fits.write(chunkRequestOfSize(4096));
    const accepted = await fits.readResponse();
    expect(accepted.status).toBe(200);
    fits.close();

    const tooLarge = await RawHttpConnection.open(device.port);
    tooLarge.write(chunkRequestOfSize(4097));
    const refused = await tooLarge.readResponse();
    expect(refused.status).toBe(413);
    expect(refused.headers.get('content-type')).toBe('text/plain');
    expect(refused.text()).toBe('Payload Too Large');
    await tooLarge.closed;
    expect(tooLarge.ended).toBe(true);
    // The refused chunk wrote nothing.
    const status = (await device.get('/ota/status')).json() as { session: { written_bytes: number } };
    expect(status.session.written_bytes).toBe(4096 - chunkRequestOfSize(4096).indexOf('\r\n\r\n') - 4);
  });

  it('refuses once its buffer is full even when the client sends the body slowly', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    const connection = await RawHttpConnection.open(device.port);
    const request = chunkRequestOfSize(6000);
    connection.write(request.subarray(0, 3000));
    await new Promise((resolve) => setTimeout(resolve, 20));
    connection.write(request.subarray(3000, 4095));
    await new Promise((resolve) => setTimeout(resolve, 20));
    connection.write(request.subarray(4095));
    const refused = await connection.readResponse();
    expect(refused.status).toBe(413);
    await connection.closed;
  });

  it('serves 16 requests on one keep-alive connection, then closes: the 17th gets no answer', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    const connection = await RawHttpConnection.open(device.port);
    for (let index = 1; index <= 16; index++) {
      const response = await connection.send('GET', '/ota/status', AUTH);
      expect(response.status).toBe(200);
      expect(response.headers.get('connection')).toBe(index < 16 ? 'keep-alive' : 'close');
    }
    await connection.closed;
    await expect(connection.send('GET', '/ota/status', AUTH)).rejects.toBeInstanceOf(ConnectionDroppedError);
    // A fresh connection is served again.
    expect((await device.get('/ota/status')).status).toBe(200);
  });

  it('counts pipelined requests against the same budget', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    const connection = await RawHttpConnection.open(device.port);
    const one = encodeRequest('GET', '/ota/status', AUTH);
    connection.write(Buffer.concat(Array.from({ length: 17 }, () => one)));
    for (let index = 0; index < 16; index++) expect((await connection.readResponse()).status).toBe(200);
    await expect(connection.readResponse()).rejects.toBeInstanceOf(ConnectionDroppedError);
  });

  it('refuses Transfer-Encoding: chunked with text/plain 400 (event-loop path) or 501 (worker path)', async () => {
    const body = '4\r\nabcd\r\n0\r\n\r\n';
    for (const [option, status, text] of [
      [undefined, 400, 'Bad Request'],
      [501, 501, 'Not Implemented'],
    ] as const) {
      const device = await boot(started, {
        profile: 'viperhttp',
        ...(option === undefined ? {} : { options: { chunkedStatus: option } }),
      });
      await device.post('/ota/begin', { force: true });
      const connection = await RawHttpConnection.open(device.port);
      const response = await connection.send(
        'POST',
        '/ota/chunk',
        { ...AUTH, 'Transfer-Encoding': 'chunked', 'Content-Type': 'application/octet-stream' },
        body,
      );
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toBe('text/plain');
      expect(response.text()).toBe(text);
      await connection.closed;
      // The same four bytes with Content-Length are written.
      const accepted = await device.post('/ota/chunk', Buffer.from('abcd'));
      expect(accepted.status).toBe(200);
    }
  });

  it('answers unknown routes (including the doc’s /ota/write) with text/plain 404, and junk with 400', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    for (const path of ['/ota/write', '/nothing']) {
      const response = await device.post(path, Buffer.from('x'));
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toBe('text/plain');
      expect(response.text()).toBe('Not Found');
    }
    expect((await device.get('/ota/begin')).status).toBe(404);
    const junk = await RawHttpConnection.open(device.port);
    junk.write('HELLO\r\n\r\n');
    const bad = await junk.readResponse();
    expect(bad.status).toBe(400);
    expect(bad.text()).toBe('Bad Request');
    await junk.closed;
  });

  it('assembles a request that arrives in pieces', async () => {
    const device = await boot(started, { profile: 'viperhttp' });
    const connection = await RawHttpConnection.open(device.port);
    const request = encodeRequest('GET', '/ota/status', AUTH);
    for (const byte of request) {
      connection.write(Buffer.from([byte]));
    }
    expect((await connection.readResponse()).status).toBe(200);
    connection.close();
  });
});
