/**
 * HttpTarget on Node's HTTP client, against scripted loopback sockets: how a device that closes,
 * cuts its answer short, spends its per-connection request budget or repeats a header reaches the
 * caller, and that destroying the client fails the request in flight.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpStepError } from './errors.ts';
import type { HttpTarget } from './http-target.ts';
import { type Cleanups, loopbackDevice, loopbackTarget } from './loopback-device.test-support.ts';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Calls `answer` with each request's bytes as they arrive on each connection (connection index too). */
const device = (answer: (socket: Socket, request: string, connection: number) => void) =>
  loopbackDevice(cleanups, (socket, index) =>
    socket.on('data', (data) => answer(socket, data.toString('latin1'), index)),
  );
const target = (port: number) => loopbackTarget(cleanups, port);

const status = (client: HttpTarget, timeoutMs = 2000) =>
  client.send({ step: 'status', method: 'GET', path: '/ota/status', headers: {}, timeoutMs, read: 'always' });

async function failureOf(work: Promise<unknown>): Promise<HttpStepError> {
  const error = await work.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(HttpStepError);
  return error as HttpStepError;
}

describe('HttpTarget', () => {
  it('a device that closes without answering is "the target closed the connection"; one that answers is read', async () => {
    const closing = await device((socket) => socket.end());
    const error = await failureOf(status(target(closing)));
    expect(error).toMatchObject({ code: 'HTTP_CONNECTION', step: 'status', targetName: 'dut' });
    expect(error.message).toMatch(
      /step 'status' \(GET \/ota\/status\) failed: the target closed the connection$/,
    );

    const answering = await device((socket) =>
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    );
    expect((await status(target(answering))).body.toString()).toBe('ok');
  });

  it('an answer cut short of its Content-Length says so; the whole answer is read', async () => {
    const cut = await device((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const error = await failureOf(status(target(cut)));
    expect(error.message).toContain('the target closed the connection before its response was complete');

    const whole = await device((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc'));
    expect((await status(target(whole))).body.toString()).toBe('abc');
  });

  it('keeps one connection alive, and opens the next after the device answers Connection: close', async () => {
    const seen: number[] = [];
    const port = await device((socket, _request, connection) => {
      seen.push(connection);
      // The second request on a connection is its last (a tiny request budget).
      const last = seen.filter((index) => index === connection).length === 2;
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Length: 1\r\n${last ? 'Connection: close\r\n' : ''}\r\n${connection}`,
      );
      if (last) socket.end();
    });
    const client = target(port);
    const bodies: string[] = [];
    for (let request = 0; request < 4; request++) bodies.push((await status(client)).body.toString());
    expect(bodies).toEqual(['0', '0', '1', '1']);
    expect(client.connectionsOpened).toBe(2);
  });

  it('a header sent twice comes back as the list, a header sent once as its value', async () => {
    const port = await device((socket) =>
      socket.write(
        'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="x", nonce="1"\r\nWWW-Authenticate: Basic realm="x"\r\nContent-Length: 0\r\n\r\n',
      ),
    );
    const response = await status(target(port));
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toEqual(['Digest realm="x", nonce="1"', 'Basic realm="x"']);
    expect(response.headers['content-length']).toBe('0');
  });

  it('destroy() fails the request in flight at once; a silent device otherwise fails at the deadline', async () => {
    const silent = await device(() => {});
    const client = target(silent);
    const pending = status(client, 5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.destroy();
    const error = await failureOf(pending);
    expect(error.message).toContain('the client was closed');

    const late = await failureOf(status(target(silent), 200));
    expect(late).toMatchObject({ code: 'HTTP_STEP_TIMEOUT' });
    expect(late.message).toContain('got no response within 200 ms');
  });
});
