import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedBroker } from './embedded-broker.ts';
import { MqttDriverError } from './errors.ts';

/** Path of the mosquitto binary, or undefined when `which mosquitto` finds none. */
export function mosquittoPath(): string | undefined {
  const found = spawnSync('which', ['mosquitto'], { encoding: 'utf8' });
  const path = found.status === 0 ? found.stdout.trim() : '';
  return path.length > 0 ? path : undefined;
}

export interface MosquittoOptions {
  /** Loopback port; a free one by default. */
  port?: number;
  /** How long mosquitto may take to accept connections. */
  startTimeoutMs?: number;
}

const POLL_MS = 20;

/**
 * A real Mosquitto for tests and CI: loopback only, anonymous, no persistence, its config in a
 * temporary directory that `stop()` removes.
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<StartedBroker> {
  const executable = mosquittoPath();
  if (!executable) {
    throw new MqttDriverError(
      'MQTT_MOSQUITTO_NOT_INSTALLED',
      'mosquitto is not installed (`which mosquitto` failed)',
    );
  }
  const port = options.port ?? (await freeLoopbackPort());
  const dir = await mkdtemp(join(tmpdir(), 'ota-conformance-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  await writeFile(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      // As the embedded broker: a packet right behind another goes out without waiting for the
      // peer's delayed ACK (40 ms on loopback).
      'set_tcp_nodelay true',
      'log_dest stderr',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(executable, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 8192) stderr += chunk.toString('utf8');
  });
  const spawnError = once(child, 'error').then(([error]) => error as Error);
  const deadline = Date.now() + (options.startTimeoutMs ?? 5000);
  const cleanUp = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (;;) {
    const failed = await Promise.race([spawnError, accepts(port)]);
    if (failed instanceof Error || child.exitCode !== null) {
      await cleanUp();
      throw new MqttDriverError(
        'MQTT_BROKER_START_FAILED',
        `mosquitto did not start on 127.0.0.1:${port}: ${failed instanceof Error ? failed.message : stderr.trim()}`,
      );
    }
    if (failed === true) break;
    if (Date.now() > deadline) {
      await cleanUp();
      throw new MqttDriverError(
        'MQTT_BROKER_START_FAILED',
        `mosquitto did not accept connections on 127.0.0.1:${port} within ${options.startTimeoutMs ?? 5000} ms: ${stderr.trim()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    stop: () => {
      stopped ??= cleanUp();
      return stopped;
    },
  };
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string')
    throw new MqttDriverError('MQTT_BROKER_START_FAILED', 'no free port');
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}
