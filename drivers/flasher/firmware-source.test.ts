import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildEsp8266Sketch } from '../../fixtures/esp8266-sketch/index.ts';
import { itWithVectors, readVector, VECTORS } from '../../fixtures/golden-vectors.test-support.ts';
import { readFirmwareBuild } from './firmware-source.ts';
import { planKnownState } from './flash-plan.ts';

const appV1 = () => readVector('esp32-app-v1.0.0.bin');
const table = () => readVector('two_ota.bin');
const bootloader = Buffer.alloc(0x6000, 0xe9);

function folder(files: Record<string, Uint8Array | string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ota-build-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

describe('readFirmwareBuild', () => {
  itWithVectors(
    'reads an ESP32 app .bin and its version from the app descriptor (esptool-built vector)',
    () => {
      const build = readFirmwareBuild(join(VECTORS, 'esp32-app-v1.0.0.bin'), 'esp32');
      expect(build).toMatchObject({
        format: 'bin',
        version: '1.0.0',
        projectName: 'ota-demo',
        secureVersion: 0,
        parts: [],
      });
    },
  );

  itWithVectors(
    'reads an ESP-IDF build folder from flasher_args.json (hex offsets, paths relative to the folder)',
    () => {
      const dir = folder({
        'flasher_args.json': JSON.stringify({
          flash_files: {
            '0x1000': 'bootloader/bootloader.bin',
            '0x8000': 'partition_table/partition-table.bin',
            '0x10000': 'ota-demo.bin',
          },
          bootloader: { offset: '0x1000', file: 'bootloader/bootloader.bin', encrypted: 'false' },
          'partition-table': {
            offset: '0x8000',
            file: 'partition_table/partition-table.bin',
            encrypted: 'false',
          },
          app: { offset: '0x10000', file: 'ota-demo.bin', encrypted: 'false' },
        }),
        'bootloader/bootloader.bin': bootloader,
        'partition_table/partition-table.bin': table(),
        'ota-demo.bin': appV1(),
      });
      const build = readFirmwareBuild(dir, 'esp32');
      expect(build.format).toBe('esp-idf-build');
      expect(build.version).toBe('1.0.0');
      expect(build.parts.map((part) => [part.name, part.address])).toEqual([
        ['bootloader', 0x1000],
        ['partition-table', 0x8000],
        ['app', 0x10000],
      ]);
      const plan = planKnownState({ build }, 'esp32');
      expect(plan.files.map((file) => [file.name, file.address, file.data.length])).toEqual([
        ['bootloader', 0x1000, bootloader.length],
        ['partition-table', 0x8000, table().length],
        ['otadata', 0xd000, 0x2000],
        ['app', 0x10000, appV1().length],
      ]);
      expect(plan.files[2]!.data.every((byte) => byte === 0xff)).toBe(true);
    },
  );

  itWithVectors(
    'reads a PlatformIO build folder and refuses a gzip firmware.bin (board_build.gzip_fw, an OTA payload)',
    () => {
      const dir = folder({
        'firmware.bin': appV1(),
        'bootloader.bin': bootloader,
        'partitions.bin': table(),
      });
      const build = readFirmwareBuild(dir, 'esp32');
      expect(build.format).toBe('platformio-build');
      expect(build.parts.map((part) => [part.name, part.address])).toEqual([
        ['bootloader', 0x1000],
        ['partition-table', 0x8000],
        ['app', undefined],
      ]);
      const gz = folder({ 'firmware.bin': gzipSync(appV1()) });
      expect(() => readFirmwareBuild(gz, 'esp32')).toThrow(/gzip data \(board_build\.gzip_fw\)/);
    },
  );

  it('reads an ESP8266 sketch .bin (eboot at 0, app at 0x1000) and plans it at 0x0; refuses a bare app as a sketch', () => {
    const sketch = buildEsp8266Sketch({ version: '2.0.0', projectName: 'demo', appSize: 16 * 1024 });
    const dir = folder({ 'sketch.bin': Buffer.from(sketch) });
    const build = readFirmwareBuild(join(dir, 'sketch.bin'), 'esp8266');
    expect(build.version).toBe('2.0.0');
    expect(planKnownState({ build }, 'esp8266').files.map((file) => [file.name, file.address])).toEqual([
      ['sketch', 0],
    ]);
    const bare = folder({ 'app.bin': Buffer.from(sketch.subarray(0x1000)) });
    expect(() => readFirmwareBuild(join(bare, 'app.bin'), 'esp8266')).toThrow(
      /not an ESP8266 Arduino sketch/,
    );
  });

  it('names the file when it is missing or not an image', () => {
    expect(() => readFirmwareBuild('/nonexistent/app.bin', 'esp32')).toThrow(
      /firmware \/nonexistent\/app\.bin: no such file/,
    );
    const dir = folder({ 'notes.bin': 'hello' });
    expect(() => readFirmwareBuild(join(dir, 'notes.bin'), 'esp32')).toThrow(
      /not an app image \(first byte 0x68/,
    );
  });

  itWithVectors('plans the app at the factory slot and refuses an app larger than it', () => {
    const build = readFirmwareBuild(join(VECTORS, 'esp32-app-v1.0.0.bin'), 'esp32');
    expect(() => planKnownState({ build }, 'esp32')).toThrow(/no partition table/);
    const plan = planKnownState({ build, partitionTable: table() }, 'esp32');
    expect(plan.appAddress).toBe(0x10000);
    const huge = { ...build, app: new Uint8Array(0x100001).fill(0xe9) };
    expect(() => planKnownState({ build: huge, partitionTable: table() }, 'esp32')).toThrow(
      /does not fit partition factory/,
    );
  });
});
