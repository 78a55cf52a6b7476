import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpStepError } from './errors.ts';
import { HttpTarget } from './http-target.ts';
import { KeepAliveConnection, type KeepAliveRequest } from './keep-alive-connection.ts';
import type { TranscriptEvent } from './transcript.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What the scripted device does with the nth request (counted over all connections). */
type Script = (socket: Socket, request: Buffer, nth: number) => void;

/** A loopback server that reads each request by its Content-Length and lets the script answer. */
async function scriptedDevice(script: Script): Promise<{ port: number }> {
  const sockets = new Set<Socket>();
  let requests = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      const headEnd = buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(buffered.toString('latin1', 0, headEnd))?.[1] ?? 0);
      if (buffered.length < headEnd + 4 + length) return;
      const request = buffered.subarray(0, headEnd + 4 + length);
      buffered = buffered.subarray(headEnd + 4 + length);
      script(socket, request, ++requests);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port };
}

function channel(port: number, transcript?: (event: TranscriptEvent) => void): KeepAliveConnection {
  const target = new HttpTarget({
    baseUrl: `http://127.0.0.1:${port}`,
    targetName: 'dut-lean',
    scrub: (text) => text.replaceAll('s3cret', '***'),
    ...(transcript === undefined ? {} : { transcript }),
    credentialHeaders: new Set(['x-ota-token']),
  });
  const connection = new KeepAliveConnection(target);
  cleanups.push(async () => {
    connection.destroy();
    await target.destroy();
  });
  return connection;
}

function post(step: string, body: Uint8Array, overrides: Partial<KeepAliveRequest> = {}): KeepAliveRequest {
  const path = '/ota/chunk?offset=0';
  return {
    step,
    method: 'POST',
    path,
    head: `POST ${path} HTTP/1.1\r\nHost: dut\r\nx-ota-token: s3cret\r\ncontent-length: ${body.length}\r\n\r\n`,
    body,
    headers: { 'x-ota-token': 's3cret' },
    timeoutMs: 1000,
    read: 'always',
    ...overrides,
  };
}

const answer = (status: number, body: string, extra = '') =>
  `HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('KeepAliveConnection', () => {
  it('sends head and body as one request and reads answers split anywhere, on one kept-alive connection', async () => {
    const seen: string[] = [];
    const device = await scriptedDevice((socket, request) => {
      seen.push(request.toString('latin1'));
      const bytes = Buffer.from(answer(200, '{"ok":true,"n":12345}'));
      // Cut inside a header name, inside the blank line and inside the body.
      for (const [from, to] of [
        [0, 20],
        [20, bytes.indexOf('\r\n\r\n') + 2],
        [bytes.indexOf('\r\n\r\n') + 2, bytes.length - 5],
        [bytes.length - 5, bytes.length],
      ] as const)
        socket.write(bytes.subarray(from, to));
    });
    const connection = channel(device.port);
    const body = Buffer.from('abcdef');
    for (let round = 0; round < 3; round++) {
      const response = await connection.send(post('chunk', body));
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('{"ok":true,"n":12345}');
    }
    expect(seen).toHaveLength(3);
    expect(seen[0]).toBe(
      'POST /ota/chunk?offset=0 HTTP/1.1\r\nHost: dut\r\nx-ota-token: s3cret\r\ncontent-length: 6\r\n\r\nabcdef',
    );
    expect(connection.connectionsOpened).toBe(1);
  });

  it('after Connection: close the next request opens a new connection, and no request fails', async () => {
    const device = await scriptedDevice((socket, _request, nth) => {
      const close = nth % 2 === 0;
      socket.write(answer(200, `{"nth":${nth}}`, close ? 'Connection: close\r\n' : ''));
      if (close) socket.end();
    });
    const connection = channel(device.port);
    const answers: string[] = [];
    for (let round = 0; round < 5; round++)
      answers.push((await connection.send(post('chunk', Buffer.from('x')))).body.toString());
    expect(answers).toEqual(['{"nth":1}', '{"nth":2}', '{"nth":3}', '{"nth":4}', '{"nth":5}']);
    expect(connection.connectionsOpened).toBe(3);
  });

  it("'on-error' drops a 2xx body but keeps an error answer's body", async () => {
    const device = await scriptedDevice((socket, _request, nth) =>
      socket.write(nth === 1 ? answer(200, '{"ok":true}') : answer(409, '{"detail":"offset mismatch"}')),
    );
    const connection = channel(device.port);
    const ok = await connection.send(post('chunk', Buffer.from('x'), { read: 'on-error' }));
    expect(ok).toMatchObject({ status: 200 });
    expect(ok.body.length).toBe(0);
    const refused = await connection.send(post('chunk', Buffer.from('x'), { read: 'on-error' }));
    expect(refused.status).toBe(409);
    expect(refused.body.toString()).toBe('{"detail":"offset mismatch"}');
  });

  it('reads a close-delimited answer to its end, and refuses a Transfer-Encoding answer it cannot frame', async () => {
    const device = await scriptedDevice((socket, _request, nth) => {
      if (nth === 1) socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
      else socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    });
    const connection = channel(device.port);
    const closeDelimited = await connection.send(post('status', Buffer.alloc(0)));
    expect(closeDelimited.body.toString()).toBe('until the end');
    const chunked = await connection.send(post('status', Buffer.alloc(0))).catch((e: unknown) => e);
    expect(chunked).toBeInstanceOf(HttpStepError);
    expect(chunked).toMatchObject({
      code: 'HTTP_MALFORMED_RESPONSE',
      step: 'status',
      targetName: 'dut-lean',
    });
    expect((chunked as Error).message).toContain('answered with Transfer-Encoding');
  });

  it('a connection lost under a request is HTTP_CONNECTION naming target and step; the next request reconnects', async () => {
    const device = await scriptedDevice((socket, _request, nth) => {
      if (nth === 1) socket.resetAndDestroy();
      else if (nth === 2) socket.end(answer(200, '{"ok":true}').slice(0, -3));
      else socket.write(answer(200, '{"ok":true}'));
    });
    const events: TranscriptEvent[] = [];
    const connection = channel(device.port, (event) => events.push(event));
    const reset = await connection.send(post('chunk @ offset 0', Buffer.from('x'))).catch((e: unknown) => e);
    expect(reset).toMatchObject({ code: 'HTTP_CONNECTION', step: 'chunk @ offset 0' });
    expect((reset as Error).message).toMatch(
      /dut-lean .*step 'chunk @ offset 0' .*connection reset by the target/,
    );
    const cut = await connection.send(post('chunk @ offset 0', Buffer.from('x'))).catch((e: unknown) => e);
    expect(cut).toMatchObject({ code: 'HTTP_CONNECTION' });
    expect((cut as Error).message).toContain('the target closed the connection');
    await expect(connection.send(post('chunk @ offset 0', Buffer.from('x')))).resolves.toMatchObject({
      status: 200,
    });
    expect(events.map((event) => event.status)).toEqual([undefined, undefined, 200]);
    expect(events[2]).toMatchObject({
      step: 'chunk @ offset 0',
      requestHeaders: { 'x-ota-token': '***' },
      responseHeaders: { 'content-length': '11' },
      bytes: { sent: 1, received: 11 },
      via: 'client',
    });
    expect(JSON.stringify(events)).not.toContain('s3cret');
  });

  it('times out a request whose answer stops mid-body, then serves the next one in time', async () => {
    const device = await scriptedDevice((socket, _request, nth) =>
      socket.write(nth === 1 ? answer(200, '{"ok":true}').slice(0, -4) : answer(200, '{"ok":true}')),
    );
    const connection = channel(device.port);
    const started = performance.now();
    const error = await connection
      .send(post('finalize', Buffer.from('{}'), { timeoutMs: 150 }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HTTP_STEP_TIMEOUT', step: 'finalize', timeoutMs: 150 });
    expect((error as Error).message).toContain('did not finish its response within 150 ms');
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    await expect(
      connection.send(post('finalize', Buffer.from('{}'), { timeoutMs: 150 })),
    ).resolves.toMatchObject({ status: 200 });
  });
});
