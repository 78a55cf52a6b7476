import { once } from 'node:events';
import { type AddressInfo, connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveOnlyLocalhost } from './loopback-only.ts';

let restore: (() => void) | undefined;
afterEach(() => restore?.());

async function connectError(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  const socket = connect({ host, port });
  const outcome = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    socket.once('connect', () => resolve(undefined));
    socket.once('error', resolve);
  });
  socket.destroy();
  return outcome;
}

describe('resolveOnlyLocalhost: the network fuzzing resolves no names', () => {
  it('fails a connection to any other name at once, without a query, and still reaches localhost', async () => {
    const server = createServer((socket) => socket.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      restore = resolveOnlyLocalhost();
      const refused = await connectError('mota.bin', port);
      expect(refused?.code).toBe('ENOTFOUND');
      expect(refused?.message).toMatch(/loopback only/);
      expect(await connectError('localhost', port)).toBeUndefined();
      expect(await connectError('127.0.0.1', port)).toBeUndefined();
      restore();
      restore = undefined;
      // Put back: a name goes to the real resolver again (localhost is in /etc/hosts).
      expect(await connectError('localhost', port)).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
