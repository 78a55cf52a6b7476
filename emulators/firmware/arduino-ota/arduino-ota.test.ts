/**
 * The arduino-ota emulated firmware driven over real loopback sockets by an espota-like uploader
 * written from reference/arduino-ota.md §1, observed through its UDP/TCP answers and its console.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../../boot/index.ts';
import { type EmulatorOptions, type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { espota, invitationLine, sendDatagram } from './espota-test-client.ts';

const FAST = { resultDelayMs: 20, replyDelayMs: 5, restartDelayMs: 5, receiveTimeoutMs: 150 };

const running: StartedEmulator[] = [];
afterEach(async () => {
  while (running.length > 0) await running.pop()?.stop();
});

async function start(options: Partial<EmulatorOptions> & { options?: Record<string, unknown> } = {}) {
  const emulator = await startEmulator({
    profile: 'arduino-ota',
    ...options,
    options: { ...FAST, ...options.options },
  });
  running.push(emulator);
  return emulator;
}

function otaPort(emulator: StartedEmulator): number {
  const endpoint = emulator.endpoints().services.ota;
  if (!endpoint) throw new Error('the firmware published no ota endpoint');
  return endpoint.port;
}

function sketch(version: string, seed = 5): Uint8Array {
  const bytes = buildArduinoSketch({ appSize: 24 * 1024, seed });
  writeSketchDescriptor(bytes, { version, projectName: 'arduino-ota-demo' });
  return bytes;
}

function esp32App(version: string, seed = 5): Uint8Array {
  return buildEsp32Image({ size: 32 * 1024, version, projectName: 'arduino-ota-demo', seed });
}

const consoleText = (emulator: StartedEmulator) =>
  emulator.device.console
    .lines()
    .map((line) => line.text)
    .join('\n');

async function waitForConsole(emulator: StartedEmulator, pattern: RegExp, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(consoleText(emulator))) {
    if (Date.now() > deadline) throw new Error(`console never matched ${pattern}:\n${consoleText(emulator)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('arduino-ota on ESP8266', () => {
  it('invitation → OK → counted upload → OK → reboot through eboot into the new sketch', async () => {
    const emulator = await start();
    expect(emulator.platform).toBe('esp8266');
    await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0/);
    const image = sketch('2.0.0');
    const outcome = await espota({ port: otaPort(emulator), image });
    expect(outcome.invitationReply).toBe('OK');
    expect(outcome.connected).toBe(true);
    expect(outcome.received.endsWith('OK')).toBe(true);
    expect(outcome.error).toBeUndefined();
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
    const log = consoleText(emulator);
    expect(log).toContain('Start updating sketch');
    expect(log).toContain('Progress: 100%');
    expect(log).toMatch(/End\n/);
  });
});

describe('arduino-ota on ESP32', () => {
  it('answers OK, takes the image and boots it from ota_0', async () => {
    const emulator = await start({ platform: 'esp32' });
    await waitForConsole(emulator, /Booting arduino-ota-demo 1\.0\.0/);
    const outcome = await espota({ port: otaPort(emulator), image: esp32App('2.0.0'), chunkSize: 1024 });
    expect(outcome.invitationReply).toBe('OK');
    expect(outcome.received.endsWith('OK')).toBe(true);
    await waitForConsole(emulator, /Booting arduino-ota-demo 2\.0\.0/);
  });
});
