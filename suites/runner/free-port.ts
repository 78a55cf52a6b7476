import { createServer } from 'node:net';

/** Ports handed out by this process: each goes to one server only. */
const reservedPorts = new Set<number>();
/** Below Linux's ephemeral range (32768–60999): no client connection is ever given one of these. */
const RESERVED_PORT_RANGE = { from: 20_000, to: 32_000 } as const;

/**
 * A free loopback port for a server a worker will start later at an address the device already
 * knows (its update URL). It is chosen below the ephemeral range, so between now and that bind no
 * outgoing connection can take it, and never twice in one run.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port =
      RESERVED_PORT_RANGE.from +
      Math.floor(Math.random() * (RESERVED_PORT_RANGE.to - RESERVED_PORT_RANGE.from));
    if (reservedPorts.has(port)) continue;
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, host, () => resolve(true));
    });
    if (!bound) continue;
    await new Promise((resolve) => server.close(resolve));
    reservedPorts.add(port);
    return port;
  }
  throw new Error(
    `no free port between ${RESERVED_PORT_RANGE.from} and ${RESERVED_PORT_RANGE.to} on ${host}`,
  );
}
