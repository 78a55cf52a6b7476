import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type StartedBroker, startEmbeddedBroker } from './embedded-broker.ts';
import { MqttDriverError } from './errors.ts';
import { mosquittoPath, startMosquitto } from './mosquitto.ts';
import { MAX_MQTT_PACKET_BYTES, MqttHarness, topicMatches } from './mqtt-harness.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function broker(kind: 'aedes' | 'mosquitto'): Promise<StartedBroker> {
  const started = kind === 'aedes' ? await startEmbeddedBroker() : await startMosquitto();
  cleanups.push(() => started.stop());
  return started;
}

async function harness(url: string, name = 'device-a'): Promise<MqttHarness> {
  const client = await MqttHarness.connect({ brokerUrl: url, targetName: name, timeouts: { stepMs: 1500 } });
  cleanups.push(() => client.close());
  return client;
}

const MOSQUITTO = mosquittoPath();
const kinds = [
  ['aedes', true],
  ['mosquitto', MOSQUITTO !== undefined],
] as const;

for (const [kind, available] of kinds) {
  describe.skipIf(!available)(
    `MqttHarness against ${kind}${available ? '' : ' (mosquitto is not installed)'}`,
    () => {
      it('delivers what one client publishes to another, found by expectMessage even when it came first', async () => {
        const started = await broker(kind);
        expect(started.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
        const device = await harness(started.url, 'device');
        const observer = await harness(started.url, 'observer');
        await observer.subscribe('dev/+/state');
        const since = observer.mark();
        await device.publish('dev/1/state', 'online', { qos: 1 });
        await device.publish('dev/2/state', 'offline', { qos: 1 });
        const second = await observer.expectMessage('dev/+/state', (m) => m.text === 'offline', { since });
        expect(second.topic).toBe('dev/2/state');
        // Already logged before this call: found from `since`, not waited for.
        const first = await observer.expectMessage('dev/+/state', (m) => m.text === 'online', { since });
        expect(first.retain).toBe(false);
        expect(first.index).toBeLessThan(second.index);
      });

      it('reads a retained message, reports none when the broker keeps none, and clears it', async () => {
        const started = await broker(kind);
        const device = await harness(started.url, 'device');
        const observer = await harness(started.url, 'observer');
        expect(await observer.retained('dev/1/status')).toBeUndefined();
        await device.publish('dev/1/status', '{"status":"connected"}', { qos: 1, retain: true });
        const retained = await observer.retained('dev/1/status');
        expect(retained?.text).toBe('{"status":"connected"}');
        expect(retained?.retain).toBe(true);
        await device.clearRetained('dev/1/status');
        expect(await observer.retained('dev/1/status')).toBeUndefined();
      });

      it('fails a wait with MQTT_MESSAGE_TIMEOUT naming the target, the step and what it saw', async () => {
        const started = await broker(kind);
        const device = await harness(started.url, 'device');
        const observer = await harness(started.url, 'bench-7');
        await observer.subscribe('x/#');
        await device.publish('x/y', 'not it', { qos: 1 });
        await observer.expectMessage('x/#', (m) => m.text === 'not it', { since: 0 });
        const began = Date.now();
        const error = await observer
          .expectMessage('x/#', (m) => m.text === 'never', {
            timeoutMs: 200,
            step: 'wait for never',
            since: 0,
          })
          .catch((caught: unknown) => caught);
        expect(Date.now() - began).toBeLessThan(2000);
        expect(error).toBeInstanceOf(MqttDriverError);
        expect((error as MqttDriverError).code).toBe('MQTT_MESSAGE_TIMEOUT');
        expect((error as Error).message).toMatch(/bench-7.*wait for never.*x\/y not it/);
      });

      it('turns a broker that goes away mid-wait into MQTT_CONNECTION_LOST, not a timeout', async () => {
        const started = await broker(kind);
        const observer = await harness(started.url, 'bench-8');
        const waiting = observer
          .expectMessage('x/#', () => true, { timeoutMs: 4000, step: 'wait for the device' })
          .catch((caught: unknown) => caught);
        await started.stop();
        const error = await waiting;
        expect((error as MqttDriverError).code).toBe('MQTT_CONNECTION_LOST');
        expect((error as Error).message).toMatch(/bench-8.*wait for the device/);
      });
    },
  );
}

describe('MqttHarness.connect', () => {
  it('fails with MQTT_BROKER_UNREACHABLE within the connect timeout when nothing listens', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const began = Date.now();
    const error = await MqttHarness.connect({
      brokerUrl: `mqtt://127.0.0.1:${port}`,
      targetName: 'bench-1',
      timeouts: { connectMs: 1000 },
    }).catch((caught: unknown) => caught);
    expect(Date.now() - began).toBeLessThan(3000);
    expect((error as MqttDriverError).code).toBe('MQTT_BROKER_UNREACHABLE');
    expect((error as Error).message).toMatch(/bench-1.*connect to the MQTT broker/);
  });

  it('fails with MQTT_BROKER_UNREACHABLE when a server accepts TCP but never answers CONNECT', async () => {
    const held = new Set<import('node:net').Socket>();
    const silent = createServer((socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const { port } = silent.address() as { port: number };
    const began = Date.now();
    const error = await MqttHarness.connect({
      brokerUrl: `mqtt://127.0.0.1:${port}`,
      targetName: 'bench-2',
      timeouts: { connectMs: 300 },
    }).catch((caught: unknown) => caught);
    expect(Date.now() - began).toBeLessThan(2500);
    expect((error as MqttDriverError).code).toBe('MQTT_BROKER_UNREACHABLE');
  });

  it('connects to a live broker (the twin of the unreachable cases)', async () => {
    const started = await broker('aedes');
    const client = await harness(started.url);
    expect(client.connected).toBe(true);
  });

  it('redacts secrets in the unreachable error', async () => {
    const error = await MqttHarness.connect({
      brokerUrl: 'mqtt://127.0.0.1:1',
      targetName: 'bench-3',
      password: 'hunter2-secret',
      timeouts: { connectMs: 500 },
      redact: (text) => text.replaceAll('127.0.0.1', '<host>'),
    }).catch((caught: unknown) => caught);
    expect((error as Error).message).toContain('<host>');
    expect((error as Error).message).not.toContain('127.0.0.1');
  });
});

describe('startEmbeddedBroker', () => {
  it('reports MQTT_BROKER_START_FAILED when the port is taken', async () => {
    const first = await broker('aedes');
    const error = await startEmbeddedBroker({ port: first.port }).catch((caught: unknown) => caught);
    expect((error as MqttDriverError).code).toBe('MQTT_BROKER_START_FAILED');
  });
});

describe('topicMatches', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', '$SYS/x', false],
    ['+/cmd/+', '/cmd/1', true],
    ['/switch/cmd/+', '/switch/cmd/root', true],
    ['homie/x/$implementation/ota/status', 'homie/x/$implementation/ota/status', true],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});

describe('MqttHarness: a packet over the harness limit (aedes)', () => {
  it('is refused at its header with the limit in the error; a packet under the limit arrives', async () => {
    const started = await broker('aedes');
    const device = await harness(started.url, 'device');
    const observer = await harness(started.url, 'observer');
    await observer.subscribe('dev/big');
    const since = observer.mark();
    await device.publish('dev/big', Buffer.alloc(1024 * 1024, 0x61), { qos: 1 });
    const fine = await observer.expectMessage('dev/big', () => true, { since });
    expect(fine.payload.length).toBe(1024 * 1024);
    const waiting = observer.expectMessage('dev/big', () => true, {
      since: observer.mark(),
      step: 'wait for dev/big',
    });
    await device.publish('dev/big', Buffer.alloc(MAX_MQTT_PACKET_BYTES + 1, 0x62), { qos: 0 });
    const error = await waiting.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MqttDriverError);
    expect((error as Error).message).toContain('target observer: step "wait for dev/big"');
    expect((error as Error).message).toContain(`over the harness's limit of ${MAX_MQTT_PACKET_BYTES} bytes`);
  }, 30_000);
});
