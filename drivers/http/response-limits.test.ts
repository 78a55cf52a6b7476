/**
 * Hostile answers to both HTTP paths (the raw keep-alive connection and the HttpTarget on Node's client): each
 * ends in an error naming the target, the step and what the target did, and nothing is buffered
 * past the limits of response-limits.ts. The servers are scripted loopback sockets.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KeepAliveConnection } from './keep-alive-connection.ts';
import { type Cleanups, loopbackDevice, loopbackTarget } from './loopback-device.test-support.ts';
import { MAX_DEVICE_RESPONSE_BYTES, MAX_RESPONSE_HEAD_BYTES } from './response-limits.ts';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Answers every connection's first request with `answer(socket)`. */
const device = (answer: (socket: Socket) => void) =>
  loopbackDevice(cleanups, (socket) => socket.once('data', () => answer(socket)));

/** Streams `total` bytes of body without ever building it, stopping when the client goes. */
function stream(socket: Socket, head: string, total: number): void {
  socket.write(head);
  const piece = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  const pump = () => {
    while (sent < total && !socket.destroyed) {
      sent += piece.length;
      if (!socket.write(piece)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

const target = (port: number) => loopbackTarget(cleanups, port);

function keepAlive(port: number) {
  const connection = new KeepAliveConnection(target(port));
  cleanups.push(() => connection.destroy());
  return (timeoutMs = 2000) =>
    connection
      .send({
        step: 'status',
        method: 'GET',
        path: '/ota/status',
        head: 'GET /ota/status HTTP/1.1\r\nHost: dut\r\n\r\n',
        body: undefined,
        headers: {},
        timeoutMs,
        read: 'always',
      })
      .then(
        (response): { ok?: { body: Buffer }; error?: Failure } => ({ ok: response }),
        (error: unknown): { ok?: { body: Buffer }; error?: Failure } => ({ error: error as Failure }),
      );
}

function nodeClient(port: number) {
  const client = target(port);
  return () =>
    client
      .send({
        step: 'status',
        method: 'GET',
        path: '/ota/status',
        headers: {},
        timeoutMs: 2000,
        read: 'always',
      })
      .then(
        (response): { ok?: { body: Buffer }; error?: Failure } => ({ ok: response }),
        (error: unknown): { ok?: { body: Buffer }; error?: Failure } => ({ error: error as Failure }),
      );
}

const TWO_GB = 2 * 1024 ** 3;
type Failure = Error & { code: string; step: string; targetName: string };

describe.each([
  ['the raw keep-alive connection', keepAlive],
  ['the HttpTarget (node:http)', nodeClient],
] as const)('%s', (_name, client) => {
  it('a 2 GB body with Content-Length stops at the body limit with HTTP_RESPONSE_TOO_LARGE naming target, step and limit', async () => {
    const port = await device((socket) =>
      stream(socket, `HTTP/1.1 200 OK\r\nContent-Length: ${TWO_GB}\r\n\r\n`, TWO_GB),
    );
    const before = process.memoryUsage().rss;
    const { error } = await client(port)();
    expect(error).toMatchObject({ code: 'HTTP_RESPONSE_TOO_LARGE', step: 'status', targetName: 'dut' });
    expect(error?.message).toMatch(
      /^target dut \(127\.0\.0\.1:\d+\): step 'status' \(GET \/ota\/status\) sent a response body of/,
    );
    expect(error?.message).toContain(`limit of ${MAX_DEVICE_RESPONSE_BYTES} bytes`);
    // Nothing near the body was kept (the limit is 1 MiB; allow the test process its own noise).
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('a close-delimited body past the limit is refused the same way; a short one is read', async () => {
    const port = await device((socket) =>
      stream(socket, 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n', 4 * MAX_DEVICE_RESPONSE_BYTES),
    );
    expect((await client(port)()).error).toMatchObject({ code: 'HTTP_RESPONSE_TOO_LARGE' });
    const small = await device((socket) =>
      socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"state":"idle"}'),
    );
    expect((await client(small)()).ok?.body.toString()).toBe('{"state":"idle"}');
  });

  it('a head that never ends is refused past the head limit', async () => {
    const port = await device((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      socket.write(`X-Filler: ${'a'.repeat(MAX_RESPONSE_HEAD_BYTES * 2)}\r\n`);
    });
    expect((await client(port)()).error).toMatchObject({ code: 'HTTP_RESPONSE_TOO_LARGE', step: 'status' });
  });

  it('garbage is reported as what it is, not as "got no response"', async () => {
    const port = await device((socket) => socket.write('\x00\xffSSH-2.0-OpenSSH_9.6\r\n'));
    const { error } = await client(port)();
    expect(error).toMatchObject({ code: 'HTTP_MALFORMED_RESPONSE', step: 'status', targetName: 'dut' });
    expect(error?.message).toContain('not an HTTP/1.x response');
    expect(error?.message).not.toContain('no response');
  });
});

describe('the raw keep-alive connection: a head cut short', () => {
  it('a timeout after part of a head says how many bytes came and shows them', async () => {
    const port = await device((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Le'));
    const { error } = await keepAlive(port)(300);
    expect(error).toMatchObject({ code: 'HTTP_STEP_TIMEOUT' });
    expect(error?.message).toContain(
      'got 27 bytes but no complete response head: "HTTP/1.1 200 OK\\r\\nContent-Le"',
    );
  });
});
