import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../emulators/index.ts';
import { itWithVectors, readVector } from '../../fixtures/golden-vectors.test-support.ts';
import { controlPlaneLines } from './control-plane-lines.ts';
import { EspFlasher } from './esp-flasher.ts';

let emulator: StartedEmulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

async function esp32(): Promise<StartedEmulator> {
  emulator = await startEmulator({ profile: 'viperhttp', console: 'tcp' });
  return emulator;
}

describe('EspFlasher (esptool-js) against the emulator ROM loader over socket://', () => {
  itWithVectors(
    'writes partition table, erased otadata and the v1.0.0 vector, verifies, reads back and boots it',
    async () => {
      const appV1 = readVector('esp32-app-v1.0.0.bin');
      const partitionTable = readVector('two_ota.bin');
      const started = await esp32();
      const endpoints = started.endpoints();
      const port = endpoints.console!.replace('tcp://', 'socket://');
      const flasher = await EspFlasher.connect({
        targetName: 'bench-esp32',
        port,
        platform: 'esp32',
        lineSink: controlPlaneLines(endpoints.control!),
      });
      expect(flasher.chipName).toBe('ESP32');
      expect(started.device.state).toBe('download');
      const written = await flasher.write([
        { name: 'partition-table', address: 0x8000, data: partitionTable },
        { name: 'otadata', address: 0xd000, data: new Uint8Array(0x2000).fill(0xff) },
        { name: 'app', address: 0x10000, data: appV1 },
      ]);
      expect(written.map((file) => file.readBackEqual)).toEqual([true, true, true]);
      expect(written[2]!.verifiedMd5).toBe(createHash('md5').update(appV1).digest('hex'));
      const dump = started.device.flash.read(0x10000, appV1.length);
      expect(Buffer.from(dump).equals(Buffer.from(appV1))).toBe(true);
      await flasher.resetIntoApp();
      await flasher.close();
      await expect.poll(() => started.device.running?.version, { timeout: 5_000 }).toBe('1.0.0');
      expect(started.device.running?.partition).toBe('factory');
    },
  );

  it('refuses a chip of another family before writing anything (and its acceptance twin above)', async () => {
    emulator = await startEmulator({ profile: 'arduino-ota', platform: 'esp8266', console: 'tcp' });
    const endpoints = emulator.endpoints();
    const before = createHash('md5').update(emulator.device.flash.snapshot()).digest('hex');
    await expect(
      EspFlasher.connect({
        targetName: 'bench-esp32',
        port: endpoints.console!,
        platform: 'esp32',
        lineSink: controlPlaneLines(endpoints.control!),
      }),
    ).rejects.toMatchObject({
      code: 'FLASHER_CHIP_MISMATCH',
      message: expect.stringMatching(/ESP8266.*esp32/),
    });
    expect(createHash('md5').update(emulator.device.flash.snapshot()).digest('hex')).toBe(before);
  });

  it('fails with one clear error when nothing answers SYNC (a TCP port that stays silent)', async () => {
    const silent = createServer((socket) => socket.on('data', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      await expect(
        EspFlasher.connect({
          targetName: 'bench-esp32',
          port: `socket://127.0.0.1:${port}`,
          platform: 'esp32',
        }),
      ).rejects.toMatchObject({
        code: 'FLASHER_NO_SYNC',
        message: expect.stringMatching(/did not answer SYNC/),
      });
    } finally {
      silent.close();
    }
  });

  it('fails with one clear error when the port does not exist', async () => {
    await expect(
      EspFlasher.connect({
        targetName: 'bench-esp32',
        port: '/dev/ttyNOPE-ota-conformance',
        platform: 'esp32',
      }),
    ).rejects.toMatchObject({
      code: 'FLASHER_PORT',
      message: expect.stringMatching(/ttyNOPE.*ports present/),
    });
  });
});
