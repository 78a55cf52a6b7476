import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { buildArduinoSketch } from '../../emulators/boot/index.ts';
import { type StartedEmulator, startEmulator } from '../../emulators/index.ts';
import { buildEsp32Image } from '../../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../../fixtures/esp8266-sketch/index.ts';
import { firmware, type StartedUpdateServer, startUpdateServer } from '../update-server/index.ts';
import { BUTTONS_STATE_TOPIC, ButtonsTrigger } from './buttons-trigger.ts';
import { type StartedBroker, startEmbeddedBroker } from './embedded-broker.ts';
import { HomieOta, md5Hex } from './homie-ota.ts';
import { mosquittoPath, startMosquitto } from './mosquitto.ts';
import { MqttHarness } from './mqtt-harness.ts';
import { TasmotaTrigger } from './tasmota-trigger.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Rig {
  broker: StartedBroker;
  server: StartedUpdateServer;
  harness: MqttHarness;
}

async function rig(kind: 'aedes' | 'mosquitto' = 'aedes'): Promise<Rig> {
  const broker = kind === 'aedes' ? await startEmbeddedBroker() : await startMosquitto();
  cleanups.push(() => broker.stop());
  const server = await startUpdateServer();
  cleanups.push(() => server.stop());
  const harness = await MqttHarness.connect({
    brokerUrl: broker.url,
    targetName: 'emulator',
    timeouts: { stepMs: 8000 },
  });
  cleanups.push(() => harness.close());
  return { broker, server, harness };
}

async function device(
  platform: 'esp32' | 'esp8266',
  options: Record<string, unknown>,
  defects: string[] = [],
): Promise<StartedEmulator> {
  const emulator = await startEmulator({
    profile: 'mqtt-trigger',
    platform,
    defects,
    options: { restartDelayMs: 0, otaCountdownMs: 0, statusIntervalMs: 0, ...options },
  });
  cleanups.push(() => emulator.stop());
  return emulator;
}

function sketch(version: string, seed: number): Uint8Array {
  const bytes = buildArduinoSketch({ appSize: 40 * 1024, seed });
  writeSketchDescriptor(bytes, { version, projectName: 'driver-test' });
  return bytes;
}

/** A buttons-u root (id 7654321) whose CONFIG_OTA_URL serves a build of 1 March 2026, 10:00:00. */
async function buttonsURig(): Promise<Rig> {
  const started = await rig();
  started.server.setScript(
    '/firmware.bin',
    firmware(buildEsp32Image({ size: 48 * 1024, version: '2.0.0', date: 'Mar  1 2026', time: '10:00:00' })),
  );
  await device('esp32', {
    dialect: 'buttons-u',
    brokerUrl: started.broker.url,
    deviceId: '7654321',
    otaUrl: `${started.server.url}/firmware.bin`,
  });
  return started;
}

describe('ButtonsTrigger against the mqtt-trigger emulator', () => {
  it('JSON ota_trigger: the device downloads the URL and reports the new app_elf_sha256 prefix', async () => {
    const { broker, server, harness } = await rig();
    const elf = createHash('sha256').update('driver test elf').digest();
    server.setScript(
      '/next.bin',
      firmware(buildEsp32Image({ size: 48 * 1024, version: '2.0.0', appElfSha256: elf })),
    );
    await device('esp32', { dialect: 'buttons-json', brokerUrl: broker.url, deviceId: '1234567' });
    const buttons = new ButtonsTrigger(harness);
    await buttons.expectState((state) => state.deviceId === 1234567, { since: 0 });
    const since = harness.mark();
    await buttons.triggerJson(`${server.url}/next.bin`);
    await server.waitForRequest((request) => request.path === '/next.bin', { timeoutMs: 8000 });
    const after = await buttons.expectState(
      (state) => state.firmware === elf.subarray(0, 16).toString('hex'),
      {
        since,
        timeoutMs: 8000,
      },
    );
    expect(after.raw.type).toBe('root');
  });

  it('U: retained disconnected, the download from the configured URL, retained connected with the new build time', async () => {
    const { harness } = await buttonsURig();
    const buttons = new ButtonsTrigger(harness);
    await buttons.expectState((state) => state.status === 'connected', { since: 0 });
    const before = await buttons.retainedState();
    expect(before).toMatchObject({ status: 'connected', deviceId: 7654321 });
    const since = harness.mark();
    await buttons.triggerU('switch', 7654321);
    await buttons.expectState((state) => state.status === 'disconnected' && state.reason === undefined, {
      since,
    });
    const connected = await buttons.expectState((state) => state.status === 'connected', {
      since,
      timeoutMs: 8000,
    });
    expect(connected.firmware).toBe(Date.parse('2026-03-01T10:00:00Z') / 1000);
    expect(harness.messages(BUTTONS_STATE_TOPIC, since).some((message) => message.retain)).toBe(false);
  });

  it("live: the broker's replay of the retained state, reaching the harness after its mark, is not the device's answer", async () => {
    const { broker, harness } = await buttonsURig();
    // Another client sees the device up, so the harness has not subscribed yet when it marks.
    const observer = await MqttHarness.connect({
      brokerUrl: broker.url,
      targetName: 'observer',
      timeouts: { stepMs: 8000 },
    });
    cleanups.push(() => observer.close());
    await new ButtonsTrigger(observer).expectState((state) => state.status === 'connected', { since: 0 });
    const buttons = new ButtonsTrigger(harness);
    const since = harness.mark();
    // The subscription brings the retained connected state of the running build, after the mark.
    const replay = await buttons.expectState((state) => state.status === 'connected', { since });
    expect(replay.retained).toBe(true);
    const live = buttons.expectState((state) => state.status === 'connected', {
      since,
      live: true,
      timeoutMs: 8000,
    });
    await buttons.triggerU('switch', 7654321);
    const back = await live;
    expect(back.retained).toBe(false);
    expect(back.firmware).toBe(Date.parse('2026-03-01T10:00:00Z') / 1000);
    expect(back.firmware).not.toBe(replay.firmware);
  });
});

describe('TasmotaTrigger against the mqtt-trigger emulator', () => {
  it('OtaUrl, Upgrade 1, the outcome on UPGRADE and the new version from Status 2', async () => {
    const { broker, server, harness } = await rig();
    server.setScript('/tasmota.bin', firmware(sketch('13.4.1', 3)));
    await device('esp8266', { dialect: 'tasmota', brokerUrl: broker.url, deviceId: 'tasmota_ABCDEF' });
    const tasmota = new TasmotaTrigger(harness, 'tasmota_ABCDEF');
    await harness.expectMessage(tasmota.lwtTopic, (message) => message.text === 'Online', { since: 0 });
    expect(await tasmota.runningVersion()).toBe('1.0.0');
    expect(await tasmota.setOtaUrl(`${server.url}/tasmota.bin`)).toBe(`${server.url}/tasmota.bin`);
    const { reply, since } = await tasmota.upgrade('1');
    expect(reply).toBe(`Version 1.0.0 from ${server.url}/tasmota.bin`);
    expect(await tasmota.expectUpgradeOutcome({ since, timeoutMs: 8000 })).toBe('Successful. Restarting');
    await harness.expectMessage(tasmota.lwtTopic, (message) => message.text === 'Online', {
      since,
      timeoutMs: 8000,
    });
    expect(await tasmota.runningVersion()).toBe('13.4.1');
  });

  it('refuses Upgrade <older> with "1 or >… to upgrade"', async () => {
    const { broker, harness } = await rig();
    await device('esp8266', { dialect: 'tasmota', brokerUrl: broker.url, deviceId: 'tasmota_ABCDEF' });
    const tasmota = new TasmotaTrigger(harness, 'tasmota_ABCDEF');
    await harness.expectMessage(tasmota.lwtTopic, (message) => message.text === 'Online', { since: 0 });
    expect((await tasmota.upgrade('0.9.0')).reply).toBe('1 or >1.0.0 to upgrade');
  });
});

const MOSQUITTO = mosquittoPath();

describe('HomieOta against the mqtt-trigger emulator', () => {
  for (const [kind, encoding] of [
    ['aedes', 'raw'],
    ['aedes', 'base64'],
    ['mosquitto', 'raw'],
  ] as const) {
    it.skipIf(kind === 'mosquitto' && !MOSQUITTO)(
      `${encoding} firmware over ${kind}: 202 … 200, then $fw/version and $fw/checksum of the new image${kind === 'mosquitto' && !MOSQUITTO ? ' (mosquitto is not installed)' : ''}`,
      async () => {
        const { broker, harness } = await rig(kind);
        await device('esp8266', { dialect: 'homie', brokerUrl: broker.url, deviceId: 'homie-dev-1' });
        const homie = new HomieOta(harness, 'homie-dev-1');
        await homie.expectAttribute('$state', (value) => value === 'ready', { since: 0 });
        expect(await homie.otaEnabled()).toBe(true);
        expect(await homie.fwVersion()).toBe('1.0.0');
        const image = sketch('2.0.0', 9);
        const since = await homie.sendFirmware(image, { encoding });
        expect((await homie.expectStatus((status) => status.code !== 206, { since })).code).toBe(202);
        expect(
          await homie.expectStatus((status) => status.code === 200 || status.code >= 400, { since }),
        ).toMatchObject({
          code: 200,
        });
        await homie.expectAttribute('$fw/checksum', (value) => value === md5Hex(image), {
          since,
          timeoutMs: 8000,
        });
        expect(await homie.fwVersion()).toBe('2.0.0');
      },
    );
  }

  it('answers 304 to the running checksum and 400 BAD_CHECKSUM to a malformed topic MD5', async () => {
    const { broker, harness } = await rig();
    await device('esp8266', { dialect: 'homie', brokerUrl: broker.url, deviceId: 'homie-dev-2' });
    const homie = new HomieOta(harness, 'homie-dev-2');
    await homie.expectAttribute('$state', (value) => value === 'ready', { since: 0 });
    const running = await homie.fwChecksum();
    let since = await homie.sendFirmware(sketch('3.0.0', 4), { md5: running });
    expect(await homie.expectStatus(() => true, { since })).toMatchObject({ code: 304 });
    since = await homie.sendFirmware(sketch('3.0.0', 4), { md5: 'not-an-md5' });
    expect(await homie.expectStatus(() => true, { since })).toMatchObject({
      code: 400,
      info: 'BAD_CHECKSUM',
    });
  });
});

describe('ButtonsTrigger scoped to a device id', () => {
  it('sees only its own device on a shared state topic', async () => {
    const { harness } = await rig();
    const mine = new ButtonsTrigger(harness, { deviceId: 42 });
    const everyone = new ButtonsTrigger(harness);
    await harness.subscribe(BUTTONS_STATE_TOPIC);
    const since = harness.mark();
    await harness.publish(
      BUTTONS_STATE_TOPIC,
      JSON.stringify({ deviceId: 7, firmware: 'other', uptime: 1 }),
      { qos: 1 },
    );
    await harness.publish(BUTTONS_STATE_TOPIC, JSON.stringify({ device_id: 42, status: 'connected' }), {
      qos: 1,
    });
    const state = await mine.expectState(() => true, { since });
    expect(state).toMatchObject({ deviceId: 42, status: 'connected' });
    expect(mine.states(since)).toHaveLength(1);
    expect(everyone.states(since)).toHaveLength(2);
  });
});
