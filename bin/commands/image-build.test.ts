/**
 * Acceptance of `image build --platform esp8266`: the sketch file it writes installs through the
 * three ESP8266 paths of the emulators (espota, the web form, Homie over MQTT) and boots with the
 * version it was built with, printing its build time where the sketch reports one.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { EspotaUploader } from '../../drivers/espota/index.ts';
import { md5Hex } from '../../drivers/mqtt/homie-ota.ts';
import { startAedes } from '../../emulators/firmware/mqtt-trigger/test-support/brokers.ts';
import { waitForConsole } from '../../emulators/firmware/mqtt-trigger/test-support/device-helpers.ts';
import { MqttObserver } from '../../emulators/firmware/mqtt-trigger/test-support/mqtt-observer.ts';
import { type StartedEmulator, startEmulator } from '../../emulators/start-emulator.ts';
import { buildImageFromFlags } from './image-build.ts';

const running: StartedEmulator[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.stop()));
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const EPOCH = Date.UTC(2026, 4, 17, 9, 8, 7) / 1000;
const BUILT = 'Built May 17 2026 09:08:07';

function sketch(version: string): Uint8Array {
  return buildImageFromFlags({
    out: 'unused',
    platform: 'esp8266',
    version,
    project: 'cli-sketch',
    buildEpoch: EPOCH,
    size: 0x1000 + 24 * 1024,
  });
}

async function start(
  profile: 'web-update' | 'arduino-ota' | 'mqtt-trigger',
  options: Record<string, unknown>,
) {
  const emulator = await startEmulator({ profile, platform: 'esp8266', options });
  running.push(emulator);
  return emulator;
}

describe('an ESP8266 sketch from `image build`', () => {
  it('installs through the web form and boots with its version and build time', async () => {
    const emulator = await start('web-update', {});
    const bytes = sketch('cli-web-2');
    const { host, port } = emulator.endpoints().services.http!;
    const boundary = '----cli';
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="firmware"; filename="sketch.bin"\r\n\r\n`,
      ),
      bytes,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          method: 'POST',
          path: '/update',
          agent: false,
          headers: {
            'content-type': `multipart/form-data; boundary=${boundary}`,
            'content-length': body.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(answer).toMatch(/Update Success! Rebooting/);
    await waitForConsole(emulator, /^Sketch cli-sketch version cli-web-2$/);
    expect(await waitForConsole(emulator, /^Built /)).toBe(BUILT);
  });

  it('installs through espota and boots with its version and build time', async () => {
    const emulator = await start('arduino-ota', { resultDelayMs: 20 });
    const { host, port } = emulator.endpoints().services.ota!;
    const uploader = new EspotaUploader({ host, port, targetName: 'cli' });
    cleanups.push(() => uploader.close());
    const result = await uploader.upload(sketch('cli-ota-2'));
    expect(result.result).toBe('OK');
    await waitForConsole(emulator, /^Booting cli-sketch cli-ota-2$/);
    expect(await waitForConsole(emulator, /^Built /)).toBe(BUILT);
  });

  it('installs through Homie over MQTT and boots with its version and build time', async () => {
    const broker = await startAedes();
    cleanups.push(() => broker.stop());
    const observer = await MqttObserver.connect(broker.url);
    cleanups.push(() => observer.close());
    const base = 'homie/5ccf7fa43b21/';
    const emulator = await start('mqtt-trigger', {
      dialect: 'homie',
      brokerUrl: broker.url,
      deviceId: '5ccf7fa43b21',
      restartDelayMs: 0,
    });
    await observer.waitFor(`${base}$state`, (text) => text === 'ready', 8000);
    const bytes = sketch('cli-homie-2');
    const mark = observer.mark();
    await observer.publish(`${base}$implementation/ota/firmware/${md5Hex(bytes)}`, Buffer.from(bytes), 1);
    await observer.waitFor(`${base}$fw/version`, (text) => text === 'cli-homie-2', 8000, mark);
    expect(await waitForConsole(emulator, /^Built /)).toBe(BUILT);
  });
});
