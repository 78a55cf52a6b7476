import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { HttpTarget } from './http-target.ts';

/** What a test registers to be undone after it (closed servers, destroyed clients). */
export type Cleanups = Array<() => Promise<void> | void>;

/**
 * A scripted device on loopback: `onConnection` gets each accepted socket (and its index) and
 * answers however the test needs, from nothing at all to a 2 GB body. Socket errors are the
 * test's to provoke, not to fail on; every socket is destroyed and the server closed by `cleanups`.
 * Resolves to the port.
 */
export async function loopbackDevice(
  cleanups: Cleanups,
  onConnection: (socket: Socket, index: number) => void,
): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onConnection(socket, sockets.size - 1);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

/** An HttpTarget named `dut` for a loopback device's port, destroyed by `cleanups`. */
export function loopbackTarget(cleanups: Cleanups, port: number): HttpTarget {
  const target = new HttpTarget({
    baseUrl: `http://127.0.0.1:${port}`,
    targetName: 'dut',
    scrub: (text) => text,
  });
  cleanups.push(() => target.destroy());
  return target;
}
