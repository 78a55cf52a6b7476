import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';

/** A raw TCP client of a `tcp://host:port` console, as ser2net's users connect; collects what arrives. */
export async function connectTcp(address: string): Promise<{ socket: Socket; received: () => string }> {
  const url = new URL(address);
  const socket = createConnection({ host: url.hostname, port: Number(url.port) });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  await once(socket, 'connect');
  return { socket, received: () => Buffer.concat(chunks).toString('latin1') };
}
