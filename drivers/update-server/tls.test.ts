import tls from 'node:tls';
import { Agent, request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { firmware, luaNoUpdate, type StartedUpdateServer, startUpdateServer } from './index.ts';
import { rawExchange, requestText } from './raw-exchange.ts';
import { createTestCertificates, type TestCertificates } from './test-certificates.ts';

const image = new Uint8Array(50_000).map((_, i) => (i * 13) & 0xff);
const currentCommit = 'c0ffee'.padEnd(40, '0');

let certificates: TestCertificates;
let otherCa: TestCertificates;
beforeAll(async () => {
  [certificates, otherCa] = await Promise.all([createTestCertificates(), createTestCertificates()]);
});

let server: StartedUpdateServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('HTTPS with a generated CA', () => {
  it('a client trusting the CA downloads the image; one trusting another CA is refused', async () => {
    server = await startUpdateServer({
      tls: { key: certificates.keyPem, cert: certificates.certPem },
      routes: { '/fw.bin': firmware(image) },
    });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const trusting = new Agent({ connect: { ca: certificates.caPem } });
    const distrusting = new Agent({ connect: { ca: otherCa.caPem } });
    try {
      const response = await request(`${server.url}/fw.bin`, { dispatcher: trusting });
      expect(response.statusCode).toBe(200);
      expect(Buffer.compare(Buffer.from(await response.body.arrayBuffer()), image)).toBe(0);
      await expect(request(`${server.url}/fw.bin`, { dispatcher: distrusting })).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
    } finally {
      await trusting.close();
      await distrusting.close();
    }
    expect(server.requests()).toHaveLength(1);
    expect(server.requests()[0]!.tls).toMatchObject({ protocol: 'TLSv1.3' });
  });

  it('records the SNI name a client sent', async () => {
    server = await startUpdateServer({
      tls: { key: certificates.keyPem, cert: certificates.certPem },
      routes: { '/fw.bin': firmware(image) },
    });
    await rawExchange({
      port: server.port,
      request: requestText('GET /fw.bin HTTP/1.0'),
      tls: { ca: certificates.caPem, servername: 'localhost' },
    });
    expect(server.requests()[0]!.tls).toMatchObject({ servername: 'localhost' });
  });
});

describe('faults over TLS', () => {
  it.each([
    [{ dropAfter: 2048 }, 'ECONNRESET'],
    [{ truncateAt: 2048 }, undefined],
  ])('%o: a write from the client afterwards fails with %s', async (fault, expectedCode) => {
    server = await startUpdateServer({
      tls: { key: certificates.keyPem, cert: certificates.certPem },
      routes: { '/fw.bin': firmware(image, fault) },
    });
    const socket = tls.connect({
      port: server.port,
      host: '127.0.0.1',
      ca: certificates.caPem,
      servername: 'localhost',
    });
    socket.once('secureConnect', () => socket.write(requestText('GET /fw.bin HTTP/1.0')));
    socket.on('error', () => {});
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    const ended = await server.waitForRequest((r) => r.endedAt !== undefined, {
      until: 'ended',
      step: 'fault applied',
    });
    expect(ended.bodyBytesSent).toBe(2048);
    const writeError = await new Promise<NodeJS.ErrnoException | null | undefined>((resolve) =>
      socket.write('probe', (error) => resolve(error)),
    );
    socket.destroy();
    expect(writeError?.code).toBe(expectedCode);
    expect(received).toBeLessThanOrEqual(2048 + 200);
  });
});

describe('TLS 1.1 for Lua RTOS net.ota()', () => {
  const tls11 = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' } as const;

  async function luaServer(): Promise<StartedUpdateServer> {
    return startUpdateServer({
      tls: { key: certificates.keyPem, cert: certificates.certPem, ...tls11 },
      routes: {
        '/': (req) =>
          req.query['commit'] === currentCommit
            ? luaNoUpdate()
            : firmware(image, { md5: false, headers: [] }),
      },
    });
  }

  /** The request net.ota() writes (reference §2.2): no SNI, no verification, Host with a trailing space. */
  function luaRequest(commit: string): string {
    return requestText(`GET /?firmware=GENERIC-OTA&commit=${commit} HTTP/1.1`, 'Host: 127.0.0.1:443 ');
  }

  it('a TLS 1.1-only client without SNI gets the image with canonical Content-Type and Content-Length', async () => {
    server = await luaServer();
    const response = await rawExchange({
      port: server.port,
      request: luaRequest('0'.repeat(40)),
      tls: { ...tls11, ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false },
    });
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(response.headerLines).toEqual([
      'Content-Type: application/octet-stream',
      `Content-Length: ${image.length}`,
    ]);
    expect(Buffer.compare(response.body, image)).toBe(0);
    expect(server.requests()[0]!.tls).toMatchObject({ protocol: 'TLSv1.1', servername: false });
  });

  it('answers 471 to the published commit over TLS 1.1', async () => {
    server = await luaServer();
    const response = await rawExchange({
      port: server.port,
      request: luaRequest(currentCommit),
      tls: { ...tls11, ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false },
    });
    expect(response.statusLine).toMatch(/^HTTP\/1.1 471 /);
  });

  it('refuses a TLS 1.2+ client, and a TLS 1.2+ server refuses a TLS 1.1 client', async () => {
    server = await luaServer();
    await expect(
      rawExchange({ port: server.port, request: luaRequest('0'), tls: { rejectUnauthorized: false } }),
    ).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
    expect(server.handshakeFailures()[0]).toMatchObject({ code: 'ERR_SSL_UNSUPPORTED_PROTOCOL' });
    await server.stop();

    server = await startUpdateServer({
      tls: { key: certificates.keyPem, cert: certificates.certPem },
      routes: { '/': luaNoUpdate() },
    });
    await expect(
      rawExchange({
        port: server.port,
        request: luaRequest('0'),
        tls: { ...tls11, ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false },
      }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_SSL_/) });
    expect(server.requests()).toHaveLength(0);
  });
});
