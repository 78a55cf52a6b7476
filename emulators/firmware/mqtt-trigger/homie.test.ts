import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { startAedes, type TestBroker } from './test-support/brokers.ts';
import { esp8266Sketch, settle, softwareResets } from './test-support/device-helpers.ts';
import { MqttObserver } from './test-support/mqtt-observer.ts';

const BASE = 'homie/5ccf7fa43b21/';
const STATUS = `${BASE}$implementation/ota/status`;
const VERSION = `${BASE}$fw/version`;
const CHECKSUM = `${BASE}$fw/checksum`;
const STATE = `${BASE}$state`;

let broker: TestBroker;
let observer: MqttObserver;
const emulators: StartedEmulator[] = [];

beforeEach(async () => {
  broker = await startAedes();
  observer = await MqttObserver.connect(broker.url);
});

afterEach(async () => {
  for (const emulator of emulators.splice(0)) await emulator.stop();
  await observer.close();
  await broker.stop();
});

async function homie(options: { defects?: string[]; otaEnabled?: boolean } = {}) {
  const mark = observer.mark();
  const emulator = await startEmulator({
    profile: 'mqtt-trigger',
    platform: 'esp8266',
    defects: options.defects,
    options: {
      dialect: 'homie',
      brokerUrl: broker.url,
      deviceId: '5ccf7fa43b21',
      restartDelayMs: 0,
      homieChunkBytes: 256,
      otaEnabled: options.otaEnabled ?? true,
    },
  });
  emulators.push(emulator);
  await observer.waitFor(STATE, (text) => text === 'ready', 8000, mark);
  return emulator;
}

async function retire(emulator: StartedEmulator): Promise<void> {
  emulators.splice(emulators.indexOf(emulator), 1);
  await emulator.stop();
}

function statusesSince(mark: number): string[] {
  return observer.messages
    .slice(mark)
    .filter((message) => message.topic === STATUS)
    .map((message) => message.payload.toString());
}

async function sendFirmware(md5: string, payload: Buffer | string): Promise<number> {
  const mark = observer.mark();
  await observer.publish(`${BASE}$implementation/ota/firmware/${md5}`, payload, 1);
  return mark;
}

describe('Homie for ESP8266: firmware over MQTT with HTTP-like status codes', () => {
  it('announces $fw/checksum, $fw/version and ota/enabled retained', async () => {
    await homie();
    const checksum = await observer.waitFor(CHECKSUM);
    expect(checksum.payload.toString()).toMatch(/^[0-9a-f]{32}$/);
    expect((await observer.waitFor(VERSION)).payload.toString()).toBe('1.0.0');
    expect((await observer.waitFor(`${BASE}$implementation/ota/enabled`)).payload.toString()).toBe('true');
  });

  for (const encoding of ['binary', 'base64'] as const) {
    it(`flashes a ${encoding} image: 202, 206 progress, 200, then the new checksum and version after the reboot`, async () => {
      const emulator = await homie();
      const next = esp8266Sketch('2.0.0', 51);
      const payload =
        encoding === 'binary' ? Buffer.from(next.sketch) : Buffer.from(next.sketch).toString('base64');
      const mark = await sendFirmware(next.md5, payload);
      await observer.waitFor(VERSION, (text) => text === '2.0.0', 8000, mark);
      const statuses = statusesSince(mark);
      expect(statuses[0]).toBe('202');
      expect(statuses).toContain(`206 ${100 * 256}/${next.sketch.length}`);
      expect(statuses.at(-1)).toBe('200');
      expect(
        (await observer.waitFor(CHECKSUM, (text) => text === next.md5, 8000, mark)).payload.toString(),
      ).toBe(next.md5);
      expect(softwareResets(emulator)).toBe(1);
    });
  }

  it('answers 304 to the running checksum; flashes-on-homie-304 flashes and reboots instead', async () => {
    const next = esp8266Sketch('2.1.0', 52);
    for (const defects of [[], ['flashes-on-homie-304']]) {
      const emulator = await homie({ defects });
      let mark = await sendFirmware(next.md5, Buffer.from(next.sketch));
      await observer.waitFor(CHECKSUM, (text) => text === next.md5, 8000, mark);
      const resetsAfterFirst = softwareResets(emulator);

      mark = await sendFirmware(next.md5, Buffer.from(next.sketch));
      if (defects.length === 0) {
        await observer.waitFor(STATUS, (text) => text === '304', 8000, mark);
        await settle();
        expect(statusesSince(mark)).toEqual(['304']);
        expect(softwareResets(emulator)).toBe(resetsAfterFirst);
      } else {
        await observer.waitFor(STATUS, (text) => text === '200', 8000, mark);
        await observer.waitFor(STATE, (text) => text === 'ready', 8000, mark);
        expect(statusesSince(mark)).not.toContain('304');
        expect(softwareResets(emulator)).toBe(resetsAfterFirst + 1);
      }
      await retire(emulator);
    }
  });

  it('rejects an image that does not match the topic MD5 with 400 BAD_CHECKSUM; the defect installs it', async () => {
    const next = esp8266Sketch('2.2.0', 53);
    const wrongMd5 = createHash('md5').update('something else').digest('hex');
    for (const defects of [[], ['homie-accepts-bad-checksum']]) {
      const emulator = await homie({ defects });
      const mark = await sendFirmware(wrongMd5, Buffer.from(next.sketch));
      if (defects.length === 0) {
        await observer.waitFor(STATUS, (text) => text.startsWith('400'), 8000, mark);
        await settle();
        expect(statusesSince(mark)).toEqual(['202', '206 25600/45056', '400 BAD_CHECKSUM']);
        expect(observer.texts(VERSION).at(-1)).toBe('1.0.0');
        expect(softwareResets(emulator)).toBe(0);
      } else {
        await observer.waitFor(VERSION, (text) => text === '2.2.0', 8000, mark);
        expect(statusesSince(mark)).toContain('200');
      }
      await retire(emulator);
    }
  });

  it('answers 403 when OTA is disabled and flashes nothing (the acceptance twin is the flash test above)', async () => {
    const emulator = await homie({ otaEnabled: false });
    expect((await observer.waitFor(`${BASE}$implementation/ota/enabled`)).payload.toString()).toBe('false');
    const next = esp8266Sketch('2.3.0', 54);
    const mark = await sendFirmware(next.md5, Buffer.from(next.sketch));
    await observer.waitFor(STATUS, (text) => text === '403', 8000, mark);
    await settle();
    expect(statusesSince(mark)).toEqual(['403']);
    expect(softwareResets(emulator)).toBe(0);
  });

  it('answers malformed triggers with 400 and stays connected; crashes-on-malformed-trigger loses the session', async () => {
    const next = esp8266Sketch('2.4.0', 55);
    for (const defects of [[], ['crashes-on-malformed-trigger']]) {
      const emulator = await homie({ defects });
      const mark = observer.mark();
      await sendFirmware('not-an-md5', Buffer.from(next.sketch));
      await sendFirmware(next.md5, 'this is not base64!');
      await settle(500);
      const states = observer.messages
        .slice(mark)
        .filter((message) => message.topic === STATE)
        .map((message) => message.payload.toString());
      if (defects.length === 0) {
        expect(statusesSince(mark)).toEqual(['400 BAD_CHECKSUM', '400 BAD_FIRMWARE']);
        expect(states).toEqual([]);
        expect(softwareResets(emulator)).toBe(0);
      } else {
        expect(states).toContain('lost');
        expect(softwareResets(emulator)).toBeGreaterThan(0);
      }
      await retire(emulator);
    }
  });
  it('ignores-ota-disabled: announces ota/enabled false yet flashes (202 … 200) instead of answering 403', async () => {
    const next = esp8266Sketch('2.5.0', 56);
    for (const defects of [[], ['ignores-ota-disabled']]) {
      const emulator = await homie({ defects, otaEnabled: false });
      expect((await observer.waitFor(`${BASE}$implementation/ota/enabled`)).payload.toString()).toBe('false');
      const mark = await sendFirmware(next.md5, Buffer.from(next.sketch));
      if (defects.length === 0) {
        await observer.waitFor(STATUS, (text) => text === '403', 8000, mark);
        await settle();
        expect(statusesSince(mark)).toEqual(['403']);
        expect(softwareResets(emulator)).toBe(0);
      } else {
        await observer.waitFor(CHECKSUM, (text) => text === next.md5, 8000, mark);
        expect(statusesSince(mark)).not.toContain('403');
        expect(statusesSince(mark)).toContain('200');
        expect(softwareResets(emulator)).toBe(1);
      }
      await retire(emulator);
    }
  });

  it('keeps-old-image: answers 200 and reboots, but the old $fw/checksum and $fw/version come back', async () => {
    const next = esp8266Sketch('2.6.0', 57);
    for (const defects of [[], ['keeps-old-image']]) {
      const emulator = await homie({ defects });
      const oldChecksum = (await observer.waitFor(CHECKSUM)).payload.toString();
      const mark = await sendFirmware(next.md5, Buffer.from(next.sketch));
      await observer.waitFor(STATUS, (text) => text === '200', 8000, mark);
      // The device is back once it is ready again after the reboot.
      await observer.waitFor(STATE, (text) => text === 'ready', 8000, mark);
      expect(softwareResets(emulator)).toBe(1);
      const checksumAfter = observer.messages
        .slice(mark)
        .filter((message) => message.topic === CHECKSUM)
        .map((message) => message.payload.toString());
      if (defects.length === 0) {
        expect(checksumAfter).toEqual([next.md5]);
        expect(emulator.device.running?.version).toBe('2.6.0');
      } else {
        expect(checksumAfter).toEqual([oldChecksum]);
        expect(emulator.device.running?.version).toBe('1.0.0');
      }
      await retire(emulator);
    }
  });
});
