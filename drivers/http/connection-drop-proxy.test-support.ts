import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a device that loses the connection at the Nth request of each
 * connection, the way a device closing at its request budget without `Connection: close` looks
 * from the client: 'before' drops the request unseen, 'after' lets the device handle it and drops
 * the answer. Only requests whose first line matches `only` are dropped (the first such request at
 * or after the Nth), so a test can aim at chunks and leave finalize alone.
 */
export interface DropProxy {
  port: number;
  dropped: number;
  stop(): Promise<void>;
}

export async function startDropProxy(
  upstreamPort: number,
  dropAt: number,
  mode: 'before' | 'after',
  only: RegExp = /^POST \/ota\/(chunk|write)\b/,
): Promise<DropProxy> {
  const sockets = new Set<Socket>();
  const state = { dropped: 0 };
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: upstreamPort });
    sockets.add(client);
    sockets.add(upstream);
    let requests = 0;
    let awaitingRequest = true;
    let dropAnswer = false;
    let droppedHere = false;
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (data: Buffer) => {
      if (awaitingRequest) {
        requests++;
        awaitingRequest = false;
        if (requests >= dropAt && !droppedHere && only.test(data.toString('latin1', 0, 64))) {
          droppedHere = true;
          state.dropped++;
          if (mode === 'before') return closeBoth();
          dropAnswer = true;
        }
      }
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      if (dropAnswer) return closeBoth();
      awaitingRequest = true;
      client.write(data);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    get dropped() {
      return state.dropped;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
