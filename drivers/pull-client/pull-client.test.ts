import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_IMAGE_RESPONSE_BYTES } from '../http/response-limits.ts';
import { sendPullRequest } from './pull-client.ts';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function server(answer: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const listening = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => answer(socket));
  }).listen(0, '127.0.0.1');
  await once(listening, 'listening');
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    listening.close();
  });
  return `http://127.0.0.1:${(listening.address() as { port: number }).port}/firmware.bin`;
}

function flood(socket: Socket, head: string): void {
  socket.write(head);
  const piece = Buffer.alloc(256 * 1024, 0x61);
  const pump = () => {
    while (!socket.destroyed) {
      if (!socket.write(piece)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

const GET = 'GET /firmware.bin HTTP/1.1\r\nHost: x\r\n\r\n';

describe('sendPullRequest: what a device could not hold', () => {
  it('a 2 GB image is PULL_CLIENT_TOO_LARGE at the image limit; a small one is read whole', async () => {
    const huge = await server((socket) =>
      flood(socket, `HTTP/1.1 200 OK\r\nContent-Length: ${2 * 1024 ** 3}\r\n\r\n`),
    );
    await expect(sendPullRequest(huge, GET)).rejects.toMatchObject({
      code: 'PULL_CLIENT_TOO_LARGE',
      message: expect.stringContaining(`limit of ${MAX_IMAGE_RESPONSE_BYTES} bytes`),
    });
    const small = await server((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nE9ok'));
    expect((await sendPullRequest(small, GET)).body.toString()).toBe('E9ok');
  });

  it('a close-delimited flood and a head that never ends are refused too', async () => {
    const closeDelimited = await server((socket) => flood(socket, 'HTTP/1.1 200 OK\r\n\r\n'));
    await expect(sendPullRequest(closeDelimited, GET, { timeoutMs: 20_000 })).rejects.toMatchObject({
      code: 'PULL_CLIENT_TOO_LARGE',
    });
    const endlessHead = await server((socket) => flood(socket, 'HTTP/1.1 200 OK\r\nX-Filler: '));
    await expect(sendPullRequest(endlessHead, GET)).rejects.toMatchObject({
      code: 'PULL_CLIENT_TOO_LARGE',
      message: expect.stringContaining('a response head'),
    });
  });
});
