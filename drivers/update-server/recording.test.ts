import { afterEach, describe, expect, it } from 'vitest';
import { firmware, luaNoUpdate, type StartedUpdateServer, startUpdateServer } from './index.ts';
import { rawExchange, requestText } from './raw-exchange.ts';

const image = new Uint8Array(10_000).map((_, i) => (i * 7) & 0xff);

let server: StartedUpdateServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('recording', () => {
  it('keeps the request line, header names in their case, values, query and the Lua RTOS Host quirk', async () => {
    server = await startUpdateServer({ routes: { '/': luaNoUpdate() } });
    const commit = 'a'.repeat(40);
    await rawExchange({
      port: server.port,
      request: requestText(
        `GET /?firmware=GENERIC-OTA&commit=${commit} HTTP/1.1`,
        'Host: ota.example:443 ',
        'x-ESP8266-version: 1.0.0',
        'Connection: close',
      ),
    });
    const [recorded] = server.requests();
    expect(recorded).toMatchObject({
      method: 'GET',
      path: '/',
      target: `/?firmware=GENERIC-OTA&commit=${commit}`,
      rawQuery: `firmware=GENERIC-OTA&commit=${commit}`,
      query: { firmware: 'GENERIC-OTA', commit },
      httpVersion: '1.1',
      requestLine: `GET /?firmware=GENERIC-OTA&commit=${commit} HTTP/1.1`,
      rawHeaderLines: ['Host: ota.example:443 ', 'x-ESP8266-version: 1.0.0', 'Connection: close'],
      headers: [
        ['Host', 'ota.example:443'],
        ['x-ESP8266-version', '1.0.0'],
        ['Connection', 'close'],
      ],
      remoteAddress: '127.0.0.1',
      status: 471,
      outcome: 'complete',
    });
    expect(recorded!.tls).toBeUndefined();
  });

  it('counts head and body bytes and orders the timestamps of one exchange', async () => {
    server = await startUpdateServer({ routes: { '/fw.bin': firmware(image, { md5: false }) } });
    const response = await rawExchange({ port: server.port, request: requestText('GET /fw.bin HTTP/1.0') });
    const [recorded] = server.requests();
    const headBytes = `${response.statusLine}\r\n${response.headerLines.map((l) => `${l}\r\n`).join('')}\r\n`
      .length;
    expect(recorded!.bodyBytesSent).toBe(image.length);
    expect(recorded!.bytesSent).toBe(headBytes + image.length);
    const { startedAt, headersReceivedAt, responseStartedAt, endedAt } = recorded!;
    expect(startedAt).toBeLessThanOrEqual(headersReceivedAt);
    expect(headersReceivedAt).toBeLessThanOrEqual(responseStartedAt!);
    expect(responseStartedAt).toBeLessThanOrEqual(endedAt!);
    expect(Math.abs(startedAt - Date.now())).toBeLessThan(5_000);
  });

  it('records a request body length and a malformed request as bad-request with a 400', async () => {
    server = await startUpdateServer({ routes: { '/update': luaNoUpdate() } });
    const posted = await rawExchange({
      port: server.port,
      request: `${requestText('POST /update HTTP/1.0', 'Content-Length: 4')}abcd`,
    });
    expect(posted.statusLine).toMatch(/^HTTP\/1.1 471 /);
    const garbage = await rawExchange({ port: server.port, request: 'HELLO THERE\r\n\r\n' });
    expect(garbage.statusLine).toBe('HTTP/1.1 400 Bad Request');
    const [post, bad] = server.requests();
    expect(post).toMatchObject({ method: 'POST', bodyLength: 4, outcome: 'complete' });
    expect(bad).toMatchObject({ requestLine: 'HELLO THERE', outcome: 'bad-request', status: 400 });
  });

  it('returns snapshots: changing one does not change the record', async () => {
    server = await startUpdateServer({ routes: { '/': luaNoUpdate() } });
    await rawExchange({ port: server.port, request: requestText('GET / HTTP/1.0', 'A: 1') });
    const first = server.requests()[0]!;
    first.headers[0]![1] = 'changed';
    first.outcome = 'dropped';
    expect(server.requests()[0]).toMatchObject({ headers: [['A', '1']], outcome: 'complete' });
  });
});

describe('waitForRequest', () => {
  it('resolves for a request that arrives after the call, and at once for one already seen', async () => {
    server = await startUpdateServer({ routes: { '/fw.bin': firmware(image) } });
    const waiting = server.waitForRequest((r) => r.path === '/fw.bin', { step: 'device fetches the image' });
    await rawExchange({ port: server.port, request: requestText('GET /fw.bin HTTP/1.0') });
    expect((await waiting).path).toBe('/fw.bin');
    const ended = await server.waitForRequest((r) => r.path === '/fw.bin', { until: 'ended', timeoutMs: 10 });
    expect(ended.outcome).toBe('complete');
  });

  it('times out with a coded error naming the step and listing what the server did see', async () => {
    server = await startUpdateServer({ routes: { '/fw.bin': firmware(image) } });
    await rawExchange({ port: server.port, request: requestText('GET /other HTTP/1.0') });
    const started = performance.now();
    const waiting = server.waitForRequest((r) => r.path === '/fw.bin', {
      timeoutMs: 50,
      step: 'device fetches the image after the MQTT trigger',
    });
    await expect(waiting).rejects.toMatchObject({
      code: 'UPDATE_SERVER_WAIT_TIMEOUT',
      message: expect.stringMatching(
        /^step "device fetches the image after the MQTT trigger": no matching request arrived within 50 ms; the server saw 1 request\(s\): GET \/other → 404 \(complete\)$/,
      ),
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('rejects a pending wait when the server stops', async () => {
    server = await startUpdateServer({ routes: {} });
    const waiting = server.waitForRequest(() => true, { timeoutMs: 5_000 });
    await server.stop();
    await expect(waiting).rejects.toMatchObject({ code: 'UPDATE_SERVER_STOPPED' });
  });
});

describe('stop', () => {
  it('cuts a delayed response and a silent idle connection, and frees the port', async () => {
    server = await startUpdateServer({ routes: { '/slow': { ...luaNoUpdate(), delayMs: 60_000 } } });
    const { port } = server;
    const delayed = rawExchange({ port, request: requestText('GET /slow HTTP/1.0') }).catch(
      (error: Error) => error,
    );
    await server.waitForRequest((r) => r.path === '/slow', { step: 'slow request arrives' });
    const started = performance.now();
    await server.stop();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await delayed).toBeInstanceOf(Error);
    expect(server.requests()[0]).toMatchObject({ outcome: 'stopped' });
    const again = await startUpdateServer({ port, routes: { '/': luaNoUpdate() } });
    await again.stop();
  });
});
