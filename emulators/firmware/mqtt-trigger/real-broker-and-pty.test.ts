import { SerialPort } from 'serialport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { socatMissing } from '../../console/socat.test-support.ts';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { mosquittoPath, startAedes, startMosquitto, type TestBroker } from './test-support/brokers.ts';
import { esp32App, esp8266Sketch } from './test-support/device-helpers.ts';
import { FirmwareServer } from './test-support/firmware-server.ts';
import { MqttObserver } from './test-support/mqtt-observer.ts';

const mosquitto = mosquittoPath();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(kind: 'aedes' | 'mosquitto') {
  const broker: TestBroker = kind === 'aedes' ? await startAedes() : await startMosquitto();
  cleanups.push(() => broker.stop());
  const server = await FirmwareServer.start();
  cleanups.push(() => server.stop());
  const observer = await MqttObserver.connect(broker.url);
  cleanups.push(() => observer.close());
  return { broker, server, observer };
}

async function emulator(options: Parameters<typeof startEmulator>[0]): Promise<StartedEmulator> {
  const started = await startEmulator(options);
  cleanups.push(() => started.stop());
  return started;
}

describe.skipIf(!mosquitto)('the core happy paths against a real Mosquitto (mosquitto not installed)', () => {
  it('buttons-u: U → graceful disconnected → connected with the new firmware time; power cut → retained will', async () => {
    const { broker, server, observer } = await world('mosquitto');
    const next = esp32App('5.0.0', 61, 'Aug  1 2026', '08:00:00');
    const device = await emulator({
      profile: 'mqtt-trigger',
      options: {
        dialect: 'buttons-u',
        brokerUrl: broker.url,
        deviceId: '1234567',
        otaCountdownMs: 0,
        otaUrl: server.serve('/firmware.bin', next.image),
      },
    });
    const state = '/switch/state/root';
    await observer.waitFor(state, (text) => text.includes('"connected"'));
    const mark = observer.mark();
    await observer.publish('/switch/cmd/1234567', 'U');
    await observer.waitFor(state, (text) => text.includes('"disconnected"'), 8000, mark);
    await observer.waitFor(state, (text) => text.includes(`"firmware":${next.buildTime}`), 8000, mark);

    await device.device.powerOff();
    const late = await MqttObserver.connect(broker.url, [state]);
    cleanups.push(() => late.close());
    const retained = await late.waitFor(
      state,
      (text, message) => message.retain && text.includes('ungraceful'),
    );
    expect(JSON.parse(retained.payload.toString())).toMatchObject({
      status: 'disconnected',
      device_id: 1234567,
    });
  });

  it('tasmota: OtaUrl + Upgrade 1 → Successful. Restarting → INFO1 with the new version', async () => {
    const { broker, server, observer } = await world('mosquitto');
    await emulator({
      profile: 'mqtt-trigger',
      platform: 'esp8266',
      options: { dialect: 'tasmota', brokerUrl: broker.url, deviceId: 'tasmota_0000AA', restartDelayMs: 0 },
    });
    await observer.waitFor('tele/tasmota_0000AA/LWT', (text) => text === 'Online');
    const url = server.serve('/t.bin', esp8266Sketch('13.5.0', 62).sketch);
    await observer.publish('cmnd/tasmota_0000AA/OtaUrl', url);
    await observer.publish('cmnd/tasmota_0000AA/Upgrade', '1');
    const done = await observer.waitFor('stat/tasmota_0000AA/UPGRADE');
    expect(done.payload.toString()).toBe('{"Upgrade":"Successful. Restarting"}');
    await observer.waitFor('tele/tasmota_0000AA/INFO1', (text) => text.includes('13.5.0(tasmota)'));
  });

  it('homie: Base64 firmware → 202 … 200 → $fw/checksum of the new image', async () => {
    const { broker, observer } = await world('mosquitto');
    await emulator({
      profile: 'mqtt-trigger',
      platform: 'esp8266',
      options: { dialect: 'homie', brokerUrl: broker.url, deviceId: 'dev1', restartDelayMs: 0 },
    });
    await observer.waitFor('homie/dev1/$state', (text) => text === 'ready');
    const next = esp8266Sketch('3.0.0', 63);
    const mark = observer.mark();
    await observer.publish(
      `homie/dev1/$implementation/ota/firmware/${next.md5}`,
      Buffer.from(next.sketch).toString('base64'),
      1,
    );
    await observer.waitFor('homie/dev1/$implementation/ota/status', (text) => text === '200', 8000, mark);
    await observer.waitFor('homie/dev1/$fw/checksum', (text) => text === next.md5, 8000, mark);
    await observer.waitFor('homie/dev1/$fw/version', (text) => text === '3.0.0', 8000, mark);
  });
});

describe('console through a real PTY', () => {
  beforeEach((context) => {
    if (socatMissing !== undefined) context.skip(socatMissing);
  });

  it('prints the OTA and the reboot into the new image on the serial port', async () => {
    const { broker, server, observer } = await world('aedes');
    const next = esp32App('6.0.0', 64);
    const device = await emulator({
      profile: 'mqtt-trigger',
      console: 'pty',
      options: { dialect: 'buttons-json', brokerUrl: broker.url, deviceId: '42', restartDelayMs: 0 },
    });
    const port = new SerialPort({ path: device.endpoints().console!, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    cleanups.push(() => new Promise<void>((resolve) => port.close(() => resolve())));
    let text = '';
    port.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    await observer.waitFor('/switch/state/root');
    const url = server.serve('/fw.bin', next.image);
    await observer.publish('/switch/cmd/root', JSON.stringify({ type: 'ota_trigger', url }));
    const deadline = Date.now() + 8000;
    while (!/app_init: App version:\s+6\.0\.0/.test(text) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).toMatch(/I \(\d+\) esp_https_ota: Starting OTA\.\.\.\r?\n/);
    expect(text).toMatch(/I \(\d+\) HEALTH_OTA: OTA update successful, restarting\.\.\.\r?\n/);
    expect(text).toMatch(/rst:0xc \(SW_CPU_RESET\)/);
    expect(text).toMatch(/app_init: App version:\s+6\.0\.0/);
  });
});
