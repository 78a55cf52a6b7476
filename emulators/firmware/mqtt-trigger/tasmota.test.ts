import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { startAedes, type TestBroker } from './test-support/brokers.ts';
import { esp32App, esp8266Sketch, settle, softwareResets } from './test-support/device-helpers.ts';
import { FirmwareServer } from './test-support/firmware-server.ts';
import { MqttObserver } from './test-support/mqtt-observer.ts';

const TOPIC = 'tasmota_A43B21';
const RESULT = `stat/${TOPIC}/RESULT`;
const UPGRADE = `stat/${TOPIC}/UPGRADE`;
const LWT = `tele/${TOPIC}/LWT`;
const INFO1 = `tele/${TOPIC}/INFO1`;

let broker: TestBroker;
let server: FirmwareServer;
let observer: MqttObserver;
const emulators: StartedEmulator[] = [];

beforeEach(async () => {
  broker = await startAedes();
  server = await FirmwareServer.start();
  observer = await MqttObserver.connect(broker.url);
});

afterEach(async () => {
  for (const emulator of emulators.splice(0)) await emulator.stop();
  await observer.close();
  await server.stop();
  await broker.stop();
});

async function tasmota(options: { defects?: string[]; platform?: 'esp8266' | 'esp32' } = {}) {
  const emulator = await startEmulator({
    profile: 'mqtt-trigger',
    platform: options.platform ?? 'esp8266',
    defects: options.defects,
    options: { dialect: 'tasmota', brokerUrl: broker.url, deviceId: TOPIC, restartDelayMs: 0 },
  });
  emulators.push(emulator);
  await observer.waitFor(LWT, (text) => text === 'Online', 8000, observer.mark());
  return emulator;
}

async function retire(emulator: StartedEmulator): Promise<void> {
  emulators.splice(emulators.indexOf(emulator), 1);
  await emulator.stop();
}

async function command(name: string, argument: string): Promise<void> {
  await observer.publish(`cmnd/${TOPIC}/${name}`, argument);
}

function upgradeText(text: string): string {
  return (JSON.parse(text) as { Upgrade: string }).Upgrade;
}

describe('Tasmota: OtaUrl, Upgrade, stat/<topic>/RESULT and UPGRADE', () => {
  it('sets OtaUrl, upgrades on "Upgrade 1", reports success and the new version after the reboot', async () => {
    const emulator = await tasmota();
    const next = esp8266Sketch('13.4.1', 41);
    const url = server.serve('/tasmota.bin', next.sketch);
    let mark = observer.mark();
    await command('OtaUrl', url);
    const reply = await observer.waitFor(RESULT, () => true, 8000, mark);
    expect(JSON.parse(reply.payload.toString())).toEqual({ OtaUrl: url });

    mark = observer.mark();
    await command('Upgrade', '1');
    const started = await observer.waitFor(RESULT, (text) => text.includes('Upgrade'), 8000, mark);
    expect(JSON.parse(started.payload.toString())).toEqual({ Upgrade: `Version 1.0.0 from ${url}` });
    const done = await observer.waitFor(UPGRADE, () => true, 8000, mark);
    expect(upgradeText(done.payload.toString())).toBe('Successful. Restarting');
    const info = await observer.waitFor(INFO1, (text) => text.includes('13.4.1'), 8000, mark);
    expect(JSON.parse(info.payload.toString())).toMatchObject({ Info1: { Version: '13.4.1(tasmota)' } });

    const request = server.requests[0]!;
    expect(request.headers['user-agent']).toBe('ESP8266-http-Update');
    expect(request.headers['x-esp8266-mode']).toBe('sketch');
    expect(request.headers['x-esp8266-version']).toBe('1.0.0');
    expect(request.headers['x-esp8266-sketch-md5']).toMatch(/^[0-9a-f]{32}$/);

    mark = observer.mark();
    await command('Status', '2');
    const status = await observer.waitFor(`stat/${TOPIC}/STATUS2`, () => true, 8000, mark);
    expect(JSON.parse(status.payload.toString())).toMatchObject({
      StatusFWR: { Version: '13.4.1(tasmota)' },
    });
    // The OtaUrl survived the reboot (Tasmota settings are in flash).
    mark = observer.mark();
    await command('OtaUrl', '');
    expect(JSON.parse((await observer.waitFor(RESULT, () => true, 8000, mark)).payload.toString())).toEqual({
      OtaUrl: url,
    });
    expect(softwareResets(emulator)).toBe(1);
  });

  it('"Upgrade <newer>" upgrades; "Upgrade <older|same>" answers "1 or >x to upgrade" and does not download', async () => {
    const emulator = await tasmota();
    const url = server.serve('/tasmota.bin', esp8266Sketch('1.2.0', 42).sketch);
    await command('OtaUrl', url);
    for (const version of ['0.9.9', '1.0.0']) {
      const mark = observer.mark();
      await command('Upgrade', version);
      const reply = await observer.waitFor(RESULT, (text) => text.includes('Upgrade'), 8000, mark);
      expect(JSON.parse(reply.payload.toString())).toEqual({ Upgrade: '1 or >1.0.0 to upgrade' });
    }
    await settle();
    expect(server.requests).toHaveLength(0);
    const mark = observer.mark();
    await command('Upgrade', '1.2.0');
    await observer.waitFor(INFO1, (text) => text.includes('1.2.0(tasmota)'), 8000, mark);
    expect(server.requests).toHaveLength(1);
    expect(softwareResets(emulator)).toBe(1);
  });

  it('tasmota-upgrades-to-older: "Upgrade <older>" downloads and installs the older image', async () => {
    const emulator = await tasmota({ defects: ['tasmota-upgrades-to-older'] });
    const url = server.serve('/old.bin', esp8266Sketch('0.9.0', 43).sketch);
    await command('OtaUrl', url);
    const mark = observer.mark();
    await command('Upgrade', '0.9.0');
    await observer.waitFor(INFO1, (text) => text.includes('0.9.0(tasmota)'), 8000, mark);
    expect(server.requests).toHaveLength(1);
    expect(emulator.device.running?.version).toBe('0.9.0');
  });

  it('reports "Failed <error>" and keeps running; restarts-after-failed-download goes Offline and reboots', async () => {
    const url = server.serve('/gone.bin', 404);
    for (const defects of [[], ['restarts-after-failed-download']]) {
      const emulator = await tasmota({ defects });
      await command('OtaUrl', url);
      const mark = observer.mark();
      await command('Upgrade', '1');
      const failed = await observer.waitFor(UPGRADE, () => true, 8000, mark);
      expect(upgradeText(failed.payload.toString())).toBe('Failed File Not Found (404)');
      await settle(400);
      const lwt = observer.texts(LWT).slice(0);
      const since = observer.messages
        .slice(mark)
        .filter((m) => m.topic === LWT)
        .map((m) => m.payload.toString());
      if (defects.length === 0) {
        expect(since).toEqual([]);
        expect(softwareResets(emulator)).toBe(0);
      } else {
        expect(since).toContain('Offline');
        expect(lwt.at(-1)).toBe('Online');
        expect(softwareResets(emulator)).toBe(1);
      }
      await retire(emulator);
    }
  });

  it('answers malformed commands on RESULT and stays connected; the crash defect drops the session', async () => {
    for (const defects of [[], ['crashes-on-malformed-trigger']]) {
      const emulator = await tasmota({ defects });
      const mark = observer.mark();
      await command('Upgrade', 'x');
      await command('Upgradde', '1');
      await settle(400);
      const results = observer.messages
        .slice(mark)
        .filter((m) => m.topic === RESULT)
        .map((m) => m.payload.toString());
      const wills = observer.messages
        .slice(mark)
        .filter((m) => m.topic === LWT)
        .map((m) => m.payload.toString());
      if (defects.length === 0) {
        expect(results).toEqual(['{"Upgrade":"1 or >1.0.0 to upgrade"}', '{"Command":"Unknown"}']);
        expect(wills).toEqual([]);
        expect(softwareResets(emulator)).toBe(0);
      } else {
        expect(wills).toContain('Offline');
        expect(softwareResets(emulator)).toBeGreaterThan(0);
      }
      await retire(emulator);
    }
  });

  it('on ESP32 writes through esp_ota_ops and reports the new version', async () => {
    const emulator = await tasmota({ platform: 'esp32' });
    const next = esp32App('14.0.0', 44);
    await command('OtaUrl', server.serve('/tasmota32.bin', next.image));
    const mark = observer.mark();
    await command('Upgrade', '1');
    await observer.waitFor(INFO1, (text) => text.includes('14.0.0(tasmota)'), 8000, mark);
    expect(server.requests[0]!.headers['user-agent']).toBe('ESP32-http-Update');
    expect(emulator.device.running?.partition).toBe('ota_1');
  });
  for (const platform of ['esp8266', 'esp32'] as const) {
    it(`keeps-old-image (${platform}): reports "Successful. Restarting" but the old version runs after the restart`, async () => {
      const next = platform === 'esp8266' ? esp8266Sketch('13.5.0', 45).sketch : esp32App('13.5.0', 46).image;
      const url = server.serve(`/keep-${platform}.bin`, next);
      for (const defects of [[], ['keeps-old-image']]) {
        const emulator = await tasmota({ defects, platform });
        await command('OtaUrl', url);
        const mark = observer.mark();
        await command('Upgrade', '1');
        const done = await observer.waitFor(UPGRADE, () => true, 8000, mark);
        expect(upgradeText(done.payload.toString())).toBe('Successful. Restarting');
        const info = await observer.waitFor(LWT, (text) => text === 'Online', 8000, mark);
        expect(info).toBeDefined();
        const version = await observer.waitFor(INFO1, () => true, 8000, mark);
        expect(softwareResets(emulator)).toBe(1);
        if (defects.length === 0) {
          expect(version.payload.toString()).toContain('13.5.0(tasmota)');
          expect(emulator.device.running?.version).toBe('13.5.0');
        } else {
          expect(version.payload.toString()).toContain('1.0.0(tasmota)');
          expect(emulator.device.running?.version).toBe('1.0.0');
        }
        await retire(emulator);
      }
    });
  }
});
