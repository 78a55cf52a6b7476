import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import {
  type EmulatorBoard,
  runCli,
  startEmulatorBoard,
  writeRig,
} from '../../drivers/flasher/test-support/emulator-board.ts';
import { describeWithVectors, VECTORS } from '../../fixtures/golden-vectors.test-support.ts';

let board: EmulatorBoard | undefined;
afterEach(async () => {
  await board?.stop();
  board = undefined;
});

const cli = (...args: string[]) => runCli(args);

function esp32BoardRig(endpoints: EmulatorBoard['endpoints'], port: string, platform = 'esp32') {
  const http = endpoints.services.http!;
  return writeRig({
    targets: [
      {
        name: 'bench-esp32',
        kind: 'board',
        profile: platform === 'esp32' ? 'viperhttp' : 'web-update',
        platform,
        url: `http://${http.host}:${http.port}`,
        console: { port },
        power: { type: 'emulator-control', url: endpoints.control },
        firmware: {
          baseline: join(VECTORS, 'esp32-app-v1.0.0.bin'),
          update: join(VECTORS, 'esp32-app-v1.1.0.bin'),
          partitionTable: join(VECTORS, 'two_ota.bin'),
        },
      },
    ],
  });
}

// Every test's rig names the vectors, and the command reads them before it opens the port.
describeWithVectors(
  'ota-conformance flash (an emulator process described as a board: socket:// console, control-plane power)',
  () => {
    it('brings the board to v1.0.0 through the ROM protocol, MD5-verified and read back; flash read decodes it', async () => {
      board = await startEmulatorBoard(['--profile', 'viperhttp']);
      const rig = esp32BoardRig(board.endpoints, board.socketUrl);
      const flashed = await cli('flash', '--rig', rig, '--target', 'bench-esp32', '--json');
      expect(flashed.stderr).toBe('');
      expect(flashed.code).toBe(0);
      const outcome = JSON.parse(flashed.stdout);
      expect(outcome.bootedVersion).toBe('1.0.0');
      expect(outcome.files.map((f: { name: string; address: number }) => [f.name, f.address])).toEqual([
        ['partition-table', 0x8000],
        ['otadata', 0xd000],
        ['app', 0x10000],
      ]);
      for (const file of outcome.files) {
        expect(file.verifiedMd5).toBe(file.md5);
        expect(file.readBackEqual).toBe(true);
      }

      const read = await cli(
        'flash',
        'read',
        '--rig',
        rig,
        '--target',
        'bench-esp32',
        '--json',
        '--out',
        join(rig, '..', 'dump.bin'),
        '--size',
        '0x30000',
      );
      expect(read.code).toBe(0);
      const report = JSON.parse(read.stdout);
      expect(report.otadata.copies.map((c: { seq: number }) => c.seq)).toEqual([0xffffffff, 0xffffffff]);
      expect(report.otadata.activeCopy).toBe(-1);
      expect(report.otadata.bootSlot).toBe('factory');
      const factory = report.apps.find((app: { label: string }) => app.label === 'factory');
      expect(factory.image).toMatchObject({
        version: '1.0.0',
        projectName: 'ota-demo',
        checksumValid: true,
        sha256Valid: true,
      });
      const dump = readFileSync(join(rig, '..', 'dump.bin'));
      const app = readFileSync(join(VECTORS, 'esp32-app-v1.0.0.bin'));
      expect(dump.subarray(0x10000, 0x10000 + app.length).equals(app)).toBe(true);
      expect(dump.subarray(0x8000, 0x8000 + 3072).equals(readFileSync(join(VECTORS, 'two_ota.bin')))).toBe(
        true,
      );
    });

    it('fails within its timeout with one clear error: a port that does not exist', async () => {
      const rig = esp32BoardRig(
        {
          services: { http: { protocol: 'http', host: '127.0.0.1', port: 9 } },
          control: 'http://127.0.0.1:9',
          console: '',
        },
        '/dev/ttyNOPE-ota',
      );
      const result = await cli('flash', '--rig', rig, '--target', 'bench-esp32');
      expect(result.code).toBe(3);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/cannot open \/dev\/ttyNOPE-ota: .*ports present/);
    });

    it('fails within its timeout with one clear error: a chip that never syncs', async () => {
      const silent = createServer((socket) => socket.on('data', () => {}));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const { port } = silent.address() as { port: number };
      try {
        board = await startEmulatorBoard(['--profile', 'viperhttp']);
        // The lines go to a real control plane, but the UART is a TCP port where nothing answers.
        const rig = esp32BoardRig(board.endpoints, `socket://127.0.0.1:${port}`);
        const result = await cli('flash', '--rig', rig, '--target', 'bench-esp32');
        expect(result.code).toBe(3);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr).toMatch(
          /did not answer SYNC after 3 reset-and-sync attempts; it printed nothing/,
        );
        expect(result.ms).toBeLessThan(20_000 + 5_000);
      } finally {
        silent.close();
      }
    });

    it('fails with one clear error on a chip of the wrong family, before writing', async () => {
      board = await startEmulatorBoard(['--profile', 'web-update', '--platform', 'esp8266']);
      const rig = esp32BoardRig(board.endpoints, board.socketUrl);
      const result = await cli('flash', '--rig', rig, '--target', 'bench-esp32');
      expect(result.code).toBe(3);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/the chip is ESP8266 .*but the rig says esp32; nothing was written/);
    });
  },
);
