import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Target } from '../../drivers/target/index.ts';
import { exchangeOnOneConnection, requestBytes } from './viper-device.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A loopback server answering each request with `answer`, closing after `closeAfter` answers. */
async function serve(answer: string, closeAfter: number): Promise<Target> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let answered = 0;
    socket.on('data', () => {
      answered++;
      if (answered >= closeAfter) socket.end(answer);
      else socket.write(answer);
    });
    socket.on('error', () => socket.destroy());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('close', () => {
    for (const socket of sockets) socket.destroy();
  });
  const { port } = server.address() as { port: number };
  const recorded: string[] = [];
  return {
    name: 'loopback',
    description: { url: `http://127.0.0.1:${port}`, token: 'secret' },
    stepTimeoutMs: 400,
    transcript: { record: (_step: string, _direction: string, text: string) => recorded.push(text) },
    redactor: { redact: (text: string) => text.replaceAll('secret', '***') },
  } as unknown as Target;
}

const ANSWER_413 = 'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 17\r\n\r\nPayload Too Large';
const ANSWER_200 = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}';

describe('exchangeOnOneConnection', () => {
  it('reports a close that follows the answer, and no close from a server that keeps the connection', async () => {
    const closing = await serve(ANSWER_413, 1);
    const closed = await exchangeOnOneConnection(
      closing,
      [requestBytes(closing, 'GET', '/ota/status')],
      's',
      {
        awaitClose: true,
      },
    );
    expect(closed).toMatchObject({ statuses: [413], closed: true });

    const open = await serve(ANSWER_413, 99);
    const kept = await exchangeOnOneConnection(open, [requestBytes(open, 'GET', '/ota/status')], 's', {
      awaitClose: true,
    });
    expect(kept).toMatchObject({ statuses: [413], closed: false });
  });

  it('sends the next request only after the previous answer and stops where the server closes', async () => {
    const target = await serve(ANSWER_200, 3);
    const request = requestBytes(target, 'GET', '/ota/status');
    const result = await exchangeOnOneConnection(target, [request, request, request, request, request], 's', {
      awaitClose: true,
    });
    expect(result.statuses).toEqual([200, 200, 200]);
    expect(result.closed).toBe(true);
  });

  it('returns as soon as every request is answered when no close is awaited', async () => {
    const target = await serve(ANSWER_200, 99);
    const started = performance.now();
    const result = await exchangeOnOneConnection(target, [requestBytes(target, 'GET', '/ota/status')], 's', {
      awaitClose: false,
    });
    expect(result).toMatchObject({ statuses: [200], closed: false });
    expect(performance.now() - started).toBeLessThan(350);
  });

  it('writes the token header and redacts it from what it returns', () => {
    const bytes = requestBytes(
      { description: { url: 'http://127.0.0.1:8080/base', token: 'secret' } } as unknown as Target,
      'POST',
      '/ota/chunk?offset=0',
      { body: new Uint8Array(3) },
    ).toString('latin1');
    expect(bytes).toBe(
      'POST /base/ota/chunk?offset=0 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-OTA-Token: secret\r\nContent-Length: 3\r\n\r\n\0\0\0',
    );
  });
});
