import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../fixtures/esp32-image/index.ts';
import { writeSketchDescriptor } from '../../fixtures/esp8266-sketch/index.ts';
import { buildArduinoSketch } from '../boot/index.ts';
import { DeviceConsole } from '../console/index.ts';
import { EmulatedDevice, UnknownDefectError } from './emulated-device.ts';
import type { FirmwareContext, FirmwareModule } from './types.ts';

/**
 * A probe firmware, a test double that exists only to exercise the device core: it serves
 * `<version> <partition>` on a TCP port and hands each boot's context to the test, which drives
 * the platform's real OTA APIs through it.
 */
function probeFirmware(contexts: FirmwareContext[]): FirmwareModule {
  return {
    profile: 'viperhttp',
    platforms: ['esp32', 'esp8266'],
    defects: [
      {
        name: 'probe-defect',
        breaks: ['none'],
        description: 'does nothing; proves defect names are checked',
      },
    ],
    defaultOptions: {},
    async start(context) {
      contexts.push(context);
      const server: Server = createServer((socket) => {
        socket.end(`${context.running.version} ${context.running.partition}\n`);
      });
      server.listen(context.preferredPort('probe'), context.host);
      await once(server, 'listening');
      const address = server.address();
      if (typeof address === 'object' && address) {
        context.publish('probe', { protocol: 'tcp', host: context.host, port: address.port });
      }
      context.console.log('I', 'probe', `serving on ${context.host}`);
      return {
        stop: async () => {
          server.close();
        },
      };
    },
  };
}

async function askVersion(device: EmulatedDevice): Promise<string> {
  const endpoint = device.endpoints.get('probe');
  if (!endpoint) throw new Error('probe endpoint not published');
  const socket = new Socket();
  socket.connect(endpoint.port, endpoint.host);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  await once(socket, 'end');
  return text.trim();
}

function newDevice(platform: 'esp32' | 'esp8266', contexts: FirmwareContext[], extra = {}) {
  return new EmulatedDevice({
    name: `probe-${platform}`,
    platform,
    firmware: probeFirmware(contexts),
    console: new DeviceConsole(),
    esp32: { chip: { rollback: true } },
    ...extra,
  });
}

function esp32Update(context: FirmwareContext, image: Uint8Array): void {
  const ota = context.esp32!.ota;
  const target = ota.getNextUpdatePartition()!;
  const handle = ota.begin(target, image.length);
  for (let offset = 0; offset < image.length; offset += 4096) {
    ota.write(handle, image.subarray(offset, offset + 4096));
  }
  ota.end(handle);
  ota.setBootPartition(target);
}

describe('EmulatedDevice (ESP32, probe firmware)', () => {
  it('boots the factory image through the bootloader and serves what the flash holds', async () => {
    const contexts: FirmwareContext[] = [];
    const device = newDevice('esp32', contexts);
    await device.powerOn();
    try {
      expect(device.state).toBe('running');
      expect(await askVersion(device)).toBe('1.0.0 factory');
      const log = device.console.lines().map((l) => l.text);
      expect(log).toContain('rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)');
      expect(log.some((l) => /boot: Loaded app from partition at offset 0x10000$/.test(l))).toBe(true);
      expect(log.some((l) => /app_init: App version:\s+1\.0\.0$/.test(l))).toBe(true);
    } finally {
      await device.shutdown();
    }
  });

  it('runs the new image after an OTA and a restart, on the same port, and rolls back without mark-valid', async () => {
    const contexts: FirmwareContext[] = [];
    const device = newDevice('esp32', contexts);
    await device.powerOn();
    try {
      const port = device.endpoints.get('probe')!.port;
      esp32Update(contexts[0]!, buildEsp32Image({ version: '1.1.0', size: 48 * 1024, seed: 9 }));
      contexts[0]!.restart();
      await waitFor(() => contexts.length === 2 && device.state === 'running');
      expect(device.endpoints.get('probe')!.port).toBe(port);
      expect(await askVersion(device)).toBe('1.1.0 ota_0');
      expect(device.console.lines().some((l) => l.text.includes('rst:0xc (SW_CPU_RESET)'))).toBe(true);

      // Not marked valid: the bootloader aborts the pending image on the next reset.
      await device.resetPin();
      expect(await askVersion(device)).toBe('1.0.0 factory');
    } finally {
      await device.shutdown();
    }
  });

  it('keeps the new image across resets once the app marks itself valid', async () => {
    const contexts: FirmwareContext[] = [];
    const device = newDevice('esp32', contexts);
    await device.powerOn();
    try {
      esp32Update(contexts[0]!, buildEsp32Image({ version: '1.1.0', size: 48 * 1024, seed: 9 }));
      await device.restart();
      contexts.at(-1)!.esp32!.ota.markAppValidCancelRollback();
      await device.powerOff();
      await device.powerOn();
      expect(await askVersion(device)).toBe('1.1.0 ota_0');
    } finally {
      await device.shutdown();
    }
  });

  it('loses power mid-write when a cut is armed, then boots the old image when power returns', async () => {
    const contexts: FirmwareContext[] = [];
    const device = newDevice('esp32', contexts);
    await device.powerOn();
    try {
      device.cutPowerAfterBytes(10_000);
      expect(() => esp32Update(contexts[0]!, buildEsp32Image({ version: '1.1.0', size: 48 * 1024 }))).toThrow(
        /power/i,
      );
      await waitFor(() => device.state === 'off');
      expect(contexts[0]!.signal.aborted).toBe(true);
      await device.powerOn();
      expect(await askVersion(device)).toBe('1.0.0 factory');
    } finally {
      await device.shutdown();
    }
  });

  it('refuses a defect the firmware does not know and accepts one it does', () => {
    expect(() => newDevice('esp32', [], { defects: ['no-such-defect'] })).toThrow(UnknownDefectError);
    expect(() => newDevice('esp32', [], { defects: ['probe-defect'] })).not.toThrow();
  });
});

describe('EmulatedDevice (ESP8266, probe firmware)', () => {
  it('stages an update with the Updater and runs it after eboot copies it at the restart', async () => {
    const contexts: FirmwareContext[] = [];
    const device = newDevice('esp8266', contexts);
    await device.powerOn();
    try {
      expect(await askVersion(device)).toBe('1.0.0 app');
      expect(device.console.lines()[0]?.text).toBe('ets Jan  8 2013,rst cause:1, boot mode:(3,6)');
      const sketch = buildArduinoSketch({ appSize: 40 * 1024, seed: 77 });
      writeSketchDescriptor(sketch, { version: '2.0.0', projectName: 'probe' });
      const updater = contexts[0]!.esp8266!.createUpdater();
      expect(updater.begin(sketch.length)).toBe(true);
      expect(updater.write(sketch)).toBe(sketch.length);
      expect(updater.end()).toBe(true);
      await device.restart();
      expect(await askVersion(device)).toBe('2.0.0 app');
      expect(device.console.lines().some((l) => /^@cp:B?0$/.test(l.text))).toBe(true);
      expect(device.running?.md5).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await device.shutdown();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
