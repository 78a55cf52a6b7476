import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../start-emulator.ts';
import { startAedes } from './test-support/brokers.ts';
import { MqttObserver } from './test-support/mqtt-observer.ts';

describe('mqtt-trigger options', () => {
  it('refuses an unknown dialect and Homie on an ESP32, naming the problem; Homie on an ESP8266 starts', async () => {
    await expect(
      startEmulator({ profile: 'mqtt-trigger', options: { dialect: 'esphome' }, controlPlane: false }),
    ).rejects.toMatchObject({ code: 'MQTT_TRIGGER_CONFIG', message: expect.stringContaining('dialect') });
    await expect(
      startEmulator({
        profile: 'mqtt-trigger',
        platform: 'esp32',
        options: { dialect: 'homie' },
        controlPlane: false,
      }),
    ).rejects.toMatchObject({ code: 'MQTT_TRIGGER_CONFIG', message: expect.stringContaining('ESP8266') });

    const broker = await startAedes();
    const observer = await MqttObserver.connect(broker.url);
    const emulator = await startEmulator({
      profile: 'mqtt-trigger',
      platform: 'esp8266',
      options: { dialect: 'homie', brokerUrl: broker.url, deviceId: 'cfg' },
      controlPlane: false,
    });
    try {
      await observer.waitFor('homie/cfg/$state', (text) => text === 'ready');
    } finally {
      await emulator.stop();
      await observer.close();
      await broker.stop();
    }
  });
});
