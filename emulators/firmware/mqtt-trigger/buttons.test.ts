import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { startAedes, type TestBroker } from './test-support/brokers.ts';
import { esp32App, settle, softwareResets, waitForConsole } from './test-support/device-helpers.ts';
import { FirmwareServer } from './test-support/firmware-server.ts';
import { MqttObserver } from './test-support/mqtt-observer.ts';

const STATE = '/switch/state/root';
const DEVICE_ID = '40183289159373';

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

async function buttons(
  dialect: 'buttons-json' | 'buttons-u',
  extra: { defects?: string[]; otaUrl?: string } = {},
) {
  const emulator = await startEmulator({
    profile: 'mqtt-trigger',
    defects: extra.defects,
    options: {
      dialect,
      brokerUrl: broker.url,
      deviceId: DEVICE_ID,
      otaCountdownMs: 0,
      restartDelayMs: 0,
      statusIntervalMs: 100,
      ...(extra.otaUrl ? { otaUrl: extra.otaUrl } : {}),
    },
  });
  emulators.push(emulator);
  return emulator;
}

/**
 * A buttons-u device started and seen saying "connected". Its one "connected" can come before
 * buttons() returns, so it is counted from before the start.
 */
async function connectedButtonsU(extra: { defects?: string[]; otaUrl?: string } = {}) {
  const started = observer.mark();
  const emulator = await buttons('buttons-u', extra);
  await observer.waitFor(STATE, (text) => json(text).status === 'connected', 8000, started);
  return emulator;
}

async function retire(emulator: StartedEmulator): Promise<void> {
  emulators.splice(emulators.indexOf(emulator), 1);
  await emulator.stop();
}

function json(text: string): Record<string, unknown> {
  return JSON.parse(text) as Record<string, unknown>;
}

describe('buttons-json (seed dialect: {"type":"ota_trigger","url":…} on /switch/cmd/root)', () => {
  it('downloads the URL of the trigger and, after the reboot, reports the new firmware hash', async () => {
    const emulator = await buttons('buttons-json');
    const before = await observer.waitFor(STATE, (text) => json(text).type === 'root');
    const oldFirmware = json(before.payload.toString()).firmware as string;
    expect(oldFirmware).toMatch(/^[0-9a-f]{32}$/);
    const next = esp32App('2.0.0', 21);
    const url = server.serve('/fw/buttons.bin', next.image);

    const mark = observer.mark();
    await observer.publish('/switch/cmd/root', JSON.stringify({ type: 'ota_trigger', url }));
    await observer.waitFor(STATE, (text) => json(text).firmware === next.elfPrefix, 8000, mark);

    expect(server.requests.map((request) => request.url)).toEqual(['/fw/buttons.bin']);
    expect(next.elfPrefix).not.toBe(oldFirmware);
    await waitForConsole(emulator, /I \(\d+\) esp_https_ota: Starting OTA\.\.\./);
    await waitForConsole(emulator, /HEALTH_OTA: OTA update successful/);
    expect(softwareResets(emulator)).toBe(1);
    expect(emulator.device.running?.version).toBe('2.0.0');
  });

  it('ignores malformed triggers, stays connected and keeps reporting; the crash defect resets instead', async () => {
    for (const defects of [[], ['crashes-on-malformed-trigger']]) {
      const emulator = await buttons('buttons-json', { defects });
      await observer.waitFor(STATE, (text) => json(text).type === 'root', 8000, observer.mark());
      for (const payload of [
        '{"type":"ota_trigger"',
        '{"type":"ota_trigger"}',
        '{"type":"ota_trigger","url":5}',
        '{"url":"x"}',
      ]) {
        await observer.publish('/switch/cmd/root', payload);
      }
      await settle();
      const mark = observer.mark();
      await observer.waitFor(STATE, (text) => json(text).type === 'root', 8000, mark);
      expect(server.requests).toHaveLength(0);
      if (defects.length === 0) {
        expect(softwareResets(emulator)).toBe(0);
        await waitForConsole(emulator, /W \(\d+\) NODE_ROOT: Ignoring command: Failed to parse JSON/);
      } else {
        expect(softwareResets(emulator)).toBeGreaterThan(0);
        await waitForConsole(emulator, /Guru Meditation Error/);
      }
      await retire(emulator);
    }
  });

  it('logs a failed download and keeps running; restarts-after-failed-download resets', async () => {
    const url = server.serve('/missing.bin', 404);
    for (const defects of [[], ['restarts-after-failed-download']]) {
      const emulator = await buttons('buttons-json', { defects });
      await observer.waitFor(STATE, (text) => json(text).type === 'root', 8000, observer.mark());
      await observer.publish('/switch/cmd/root', JSON.stringify({ type: 'ota_trigger', url }));
      await waitForConsole(emulator, /E \(\d+\) esp_https_ota: File not found\(404\)/);
      await waitForConsole(emulator, /E \(\d+\) HEALTH_OTA: OTA update failed: ESP_FAIL/);
      await settle();
      expect(softwareResets(emulator)).toBe(defects.length === 0 ? 0 : 1);
      expect(emulator.device.running?.version).toBe('1.0.0');
      await retire(emulator);
    }
  });
});

describe('buttons-json: what the update server answers', () => {
  // Found by `npm run fuzz -- --seed 1 --profile mqtt-trigger/buttons-json` (answer 85): the URL
  // parser threw out of the download, an unhandled rejection, and OTA stayed "in progress".
  it('a redirect whose Location does not parse fails the download (Error parse url); the next trigger downloads', async () => {
    const emulator = await buttons('buttons-json');
    await observer.waitFor(STATE, (text) => json(text).type === 'root');
    const bad = server.serve('/fw/moved.bin', { status: 307, location: 'http://[' });
    await observer.publish('/switch/cmd/root', JSON.stringify({ type: 'ota_trigger', url: bad }));
    await waitForConsole(emulator, /E \(\d+\) HTTP_CLIENT: Error parse url http:\/\/\[$/);
    await waitForConsole(emulator, /E \(\d+\) HEALTH_OTA: OTA update failed: ESP_ERR_INVALID_ARG/);
    expect(softwareResets(emulator)).toBe(0);

    const next = esp32App('2.1.0', 22);
    const url = server.serve('/fw/next.bin', next.image);
    const mark = observer.mark();
    await observer.publish('/switch/cmd/root', JSON.stringify({ type: 'ota_trigger', url }));
    await observer.waitFor(STATE, (text) => json(text).firmware === next.elfPrefix, 8000, mark);
    expect(emulator.device.running?.version).toBe('2.1.0');
  });
});

describe('buttons-u (HEAD: one byte U, compile-time URL, retained status, last will)', () => {
  it('answers U on its own topic: graceful disconnected, download, then connected with the new firmware time', async () => {
    const next = esp32App('3.0.0', 31, 'Jul  8 2026', '09:30:00');
    const url = server.serve('/firmware.bin', next.image);
    const emulator = await buttons('buttons-u', { otaUrl: url });
    const connected = await observer.waitFor(STATE, (text) => json(text).status === 'connected');
    const first = json(connected.payload.toString());
    expect(first).toMatchObject({ device_id: Number(DEVICE_ID), mesh_layer: 1, ip: '127.0.0.1' });
    expect(connected.retain).toBe(false); // live delivery; the broker keeps a retained copy

    const mark = observer.mark();
    await observer.publish(`/switch/cmd/${DEVICE_ID}`, 'U');
    const graceful = await observer.waitFor(
      STATE,
      (text) => json(text).status === 'disconnected',
      8000,
      mark,
    );
    expect(json(graceful.payload.toString())).not.toHaveProperty('reason');
    const after = await observer.waitFor(
      STATE,
      (text) => json(text).status === 'connected' && json(text).firmware === next.buildTime,
      8000,
      mark,
    );
    expect(after).toBeDefined();
    expect(server.requests).toHaveLength(1);
    // No ungraceful will between the two: the client said DISCONNECT before the download.
    expect(
      observer
        .texts(STATE)
        .slice(mark)
        .some((text) => text.includes('ungraceful')),
    ).toBe(false);

    const late = await MqttObserver.connect(broker.url, [STATE]);
    try {
      const retained = await late.waitFor(STATE, (_text, message) => message.retain);
      expect(json(retained.payload.toString())).toMatchObject({
        status: 'connected',
        firmware: next.buildTime,
      });
    } finally {
      await late.close();
    }
    expect(emulator.device.running?.version).toBe('3.0.0');
  });

  it('acts only on its id or a broadcast of its type; U on /switch/cmd/root and other ids are no-ops', async () => {
    const next = esp32App('3.1.0', 32, 'Jul  9 2026', '10:00:00');
    const url = server.serve('/firmware.bin', next.image);
    const emulator = await connectedButtonsU({ otaUrl: url });
    await observer.publish('/switch/cmd/root', 'U');
    await observer.publish('/relay/cmd', 'U');
    await observer.publish('/switch/cmd/123456', 'U');
    await waitForConsole(emulator, /NODE_ROOT: Could not find target device/);
    await settle();
    expect(server.requests).toHaveLength(0);
    expect(softwareResets(emulator)).toBe(0);

    const mark = observer.mark();
    await observer.publish('/switch/cmd', 'U');
    await observer.waitFor(STATE, (text) => json(text).firmware === next.buildTime, 8000, mark);
    expect(server.requests).toHaveLength(1);
  });

  it('ignores malformed payloads and stays connected; the crash defect drops the session and the will fires', async () => {
    for (const defects of [[], ['crashes-on-malformed-trigger']]) {
      const emulator = await connectedButtonsU({ defects });
      const mark = observer.mark();
      await observer.publish(`/switch/cmd/${DEVICE_ID}`, 'UU');
      await observer.publish(`/switch/cmd/${DEVICE_ID}`, 'X');
      await settle(500);
      const sinceMark = observer.messages
        .slice(mark)
        .filter((message) => message.topic === STATE)
        .map((message) => message.payload.toString());
      if (defects.length === 0) {
        expect(sinceMark.some((text) => text.includes('ungraceful'))).toBe(false);
        expect(softwareResets(emulator)).toBe(0);
        await waitForConsole(emulator, /NODE_ROOT: Ignoring command/);
      } else {
        expect(sinceMark.some((text) => text.includes('ungraceful'))).toBe(true);
        expect(softwareResets(emulator)).toBeGreaterThan(0);
      }
      await retire(emulator);
    }
  });

  it('leaves the retained ungraceful disconnected status on a power cut; no-last-will leaves "connected"', async () => {
    for (const defects of [[], ['no-last-will']]) {
      const emulator = await connectedButtonsU({ defects });
      const response = await fetch(`${emulator.endpoints().control}/power/off`, { method: 'POST' });
      expect(response.status).toBe(200);
      await settle(300);
      const late = await MqttObserver.connect(broker.url, [STATE]);
      try {
        const retained = await late.waitFor(STATE, (_text, message) => message.retain);
        const status = json(retained.payload.toString());
        if (defects.length === 0) {
          expect(status).toMatchObject({
            status: 'disconnected',
            device_id: Number(DEVICE_ID),
            reason: 'ungraceful',
          });
        } else {
          expect(status).toMatchObject({ status: 'connected' });
        }
      } finally {
        await late.close();
      }
      await retire(emulator);
    }
  });

  it('reboots to retry after a failed download, counting failures in NVS', async () => {
    const url = server.serve('/firmware.bin', 500);
    const emulator = await connectedButtonsU({ otaUrl: url });
    const triggered = observer.mark();
    await observer.publish(`/switch/cmd/${DEVICE_ID}`, 'U');
    await waitForConsole(emulator, /E \(\d+\) esp_https_ota: Server error \(500\)/);
    await waitForConsole(emulator, /W \(\d+\) HEALTH_OTA: Rebooting to retry OTA later\.\.\./);
    // Back after the reboot: the "connected" that follows the "disconnected" it left with. Counted
    // from the trigger, not from the console line: under load the device can be back before the
    // line is seen here.
    const left = await observer.waitFor(
      STATE,
      (text) => json(text).status === 'disconnected',
      8000,
      triggered,
    );
    await observer.waitFor(
      STATE,
      (text) => json(text).status === 'connected',
      8000,
      observer.messages.indexOf(left) + 1,
    );
    expect(softwareResets(emulator)).toBe(1);
    expect(emulator.device.running?.version).toBe('1.0.0');
  });
  it('no-graceful-disconnect: on U the last will ("ungraceful") replaces the graceful disconnected status', async () => {
    const next = esp32App('3.2.0', 33, 'Jul 10 2026', '11:00:00');
    const url = server.serve('/firmware.bin', next.image);
    for (const defects of [[], ['no-graceful-disconnect']]) {
      const emulator = await connectedButtonsU({ defects, otaUrl: url });
      const mark = observer.mark();
      await observer.publish(`/switch/cmd/${DEVICE_ID}`, 'U');
      const leaving = await observer.waitFor(
        STATE,
        (text) => json(text).status === 'disconnected',
        8000,
        mark,
      );
      if (defects.length === 0) {
        expect(json(leaving.payload.toString())).not.toHaveProperty('reason');
      } else {
        expect(json(leaving.payload.toString())).toMatchObject({ reason: 'ungraceful' });
      }
      // Either way the update itself goes through.
      await observer.waitFor(STATE, (text) => json(text).firmware === next.buildTime, 8000, mark);
      expect(emulator.device.running?.version).toBe('3.2.0');
      await retire(emulator);
    }
  });

  for (const dialect of ['buttons-u', 'buttons-json'] as const) {
    it(`keeps-old-image (${dialect}): downloads and restarts, but reports the old firmware afterwards`, async () => {
      const next = esp32App('3.3.0', dialect === 'buttons-u' ? 34 : 35, 'Jul 11 2026', '12:00:00');
      const url = server.serve(`/keep-${dialect}.bin`, next.image);
      const expected = dialect === 'buttons-u' ? next.buildTime : next.elfPrefix;
      for (const defects of [[], ['keeps-old-image']]) {
        const emulator = await buttons(dialect, { defects, otaUrl: url });
        const requestsBefore = server.requests.length;
        const first = await observer.waitFor(
          STATE,
          (text) => json(text).firmware !== undefined,
          8000,
          observer.mark(),
        );
        const oldFirmware = json(first.payload.toString()).firmware;
        const mark = observer.mark();
        if (dialect === 'buttons-u') await observer.publish(`/switch/cmd/${DEVICE_ID}`, 'U');
        else await observer.publish('/switch/cmd/root', JSON.stringify({ type: 'ota_trigger', url }));
        await waitForConsole(emulator, /HEALTH_OTA: OTA update successful, restarting/);
        await waitForConsole(emulator, /rst:0xc \(SW_CPU_RESET\)/);
        // The first status report of the new boot says what runs now.
        const after = await observer.waitFor(
          STATE,
          (text) => json(text).firmware !== undefined,
          8000,
          observer.mark(),
        );
        expect(server.requests.length).toBe(requestsBefore + 1);
        expect(softwareResets(emulator)).toBe(1);
        expect(observer.mark()).toBeGreaterThan(mark);
        if (defects.length === 0) {
          expect(json(after.payload.toString()).firmware).toBe(expected);
          expect(emulator.device.running?.version).toBe('3.3.0');
        } else {
          expect(json(after.payload.toString()).firmware).toBe(oldFirmware);
          expect(emulator.device.running?.version).toBe('1.0.0');
        }
        await retire(emulator);
      }
    });
  }
});
