import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { MqttDriverError } from './errors.ts';

export interface EmbeddedBrokerOptions {
  /** Loopback by default; a lab rig binds an address its boards can reach. */
  host?: string;
  /** 0 (default) lets the OS choose. */
  port?: number;
}

export interface StartedBroker {
  /** `mqtt://host:port`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Closes the listener, drops every client (their last wills fire) and closes the broker. */
  stop(): Promise<void>;
}

/**
 * The harness's own broker: aedes on a node:net listener, MQTT 3.1.1 and 5, no persistence
 * beyond the process (retained messages live as long as the broker).
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<StartedBroker> {
  const host = options.host ?? '127.0.0.1';
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    // A PUBLISH right behind another would otherwise wait for the peer's delayed ACK (Nagle: 40 ms
    // on Linux loopback per command and its answer).
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  try {
    server.listen(options.port ?? 0, host);
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => Promise.reject(error)),
    ]);
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw new MqttDriverError(
      'MQTT_BROKER_START_FAILED',
      `the embedded MQTT broker cannot listen on ${host}:${options.port ?? 0}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const address = server.address();
  if (!address || typeof address === 'string') {
    throw new MqttDriverError('MQTT_BROKER_START_FAILED', 'the embedded MQTT broker has no TCP port');
  }
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let stopped: Promise<void> | undefined;
  return {
    url: `mqtt://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    stop: () => {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
        await new Promise<void>((resolve) => broker.close(() => resolve()));
      })();
      return stopped;
    },
  };
}
