import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type EmulatorBoard,
  startEmulatorBoard,
  writeRig,
} from '../../../drivers/flasher/test-support/emulator-board.ts';
import { itWithVectors, VECTORS } from '../../../fixtures/golden-vectors.test-support.ts';
import { freePort } from '../../runner/free-port.ts';
import { CampaignError } from './emulator-campaign.ts';
import { runPowercut } from './run-campaign.ts';

/*
 * Board campaigns against an emulator in its own process, described as a board: its console on
 * a TCP port (socket://), its power through the control plane's Tasmota API, and the harness'
 * update server at the address the sketch was built with. Nothing numbers its flash operations:
 * each cut is made by the power driver when the harness has sent N image bytes, or when a device
 * console line appears, and what was achieved is recorded.
 */

let board: EmulatorBoard | undefined;
afterEach(async () => {
  await board?.stop();
  board = undefined;
});

/**
 * An ESP32 running the HTTPUpdate example as a board, pulling from the harness' update server;
 * its rig names Espressif-built app images (the shared vectors), so every image the campaign
 * sends is one of them with only its version rewritten (DESIGN.md: what a board may be sent).
 */
async function httpUpdateBoard(): Promise<string> {
  const updatePort = await freePort();
  board = await startEmulatorBoard([
    '--profile',
    'http-update',
    '--platform',
    'esp32',
    '--option',
    `updateUrl=http://127.0.0.1:${updatePort}/firmware.bin`,
  ]);
  return writeRig({
    name: 'powercut-board',
    targets: [
      {
        name: 'sketch-board',
        kind: 'board',
        profile: 'http-update',
        platform: 'esp32',
        capabilities: ['console', 'power-cycle'],
        console: { port: board.socketUrl },
        power: { type: 'tasmota', url: board.endpoints.control },
        firmware: {
          baseline: join(VECTORS, 'esp32-app-v1.0.0.bin'),
          update: join(VECTORS, 'esp32-app-v1.1.0.bin'),
          partitionTable: join(VECTORS, 'two_ota.bin'),
        },
        updateServer: { host: '127.0.0.1', port: updatePort, publicUrl: `http://127.0.0.1:${updatePort}` },
      },
    ],
  });
}

const BASE = { target: 'sketch-board', seed: 3, phases: ['transfer' as const], bisect: false, settleMs: 400 };

async function campaign(rig: string, extra: { points: number; by?: 'sent'; atLine?: RegExp }) {
  const lines: string[] = [];
  const outcome = await runPowercut({
    ...BASE,
    ...extra,
    rig,
    env: { ...process.env, POWERCUT_TEST_PASSWORD: 'pw' },
    outDir: mkdtempSync(join(tmpdir(), 'powercut-board-')),
    write: (text) => lines.push(text),
  });
  return { ...outcome, output: lines.join('') };
}

describe('board campaign, pull profile, cut at bytes the harness update server has sent', () => {
  itWithVectors(
    'records for each cut the count asked for, the count sent when the switch answered and its latency; the device keeps a good image',
    async () => {
      const rig = await httpUpdateBoard();
      const { exitCode, result, output } = await campaign(rig, { points: 3, by: 'sent' });
      expect(exitCode, output).toBe(0);
      expect(result!.method).toBe('power-driver');
      expect(result!.cuts).toHaveLength(3);
      for (const cut of result!.cuts) {
        expect(cut.point.wireCount).toBe('sent');
        expect(cut.point.driverLatencyMs).toBeGreaterThanOrEqual(0);
        // The count is taken after each piece the server hands over: never short of what was asked.
        expect(cut.point.wireBytes!).toBeGreaterThanOrEqual(cut.point.requestedBytes!);
        expect(['old', 'new']).toContain(cut.outcome);
      }
    },
    120_000,
  );

  it('is refused, naming the profiles that count, on a profile whose delivery counts no bytes (web-update)', async () => {
    board = await startEmulatorBoard(['--profile', 'web-update', '--option', 'password=pw']);
    const http = board.endpoints.services.http!;
    const rig = writeRig({
      name: 'powercut-board',
      targets: [
        {
          name: 'sketch-board',
          kind: 'board',
          profile: 'web-update',
          platform: 'esp8266',
          capabilities: ['console', 'power-cycle'],
          url: `http://${http.host}:${http.port}`,
          password: { env: 'POWERCUT_TEST_PASSWORD' },
          console: { port: board.socketUrl },
          power: { type: 'tasmota', url: board.endpoints.control },
        },
      ],
    });
    await expect(campaign(rig, { points: 1, by: 'sent' })).rejects.toThrow(CampaignError);
    await expect(campaign(rig, { points: 1, by: 'sent' })).rejects.toThrow(/http-update, esp-https-ota/);
  }, 60_000);
});

describe('board campaign, cut when a console line appears', () => {
  itWithVectors(
    'cuts as the chip restarts into the new image (its ROM reset line), recording the line, the bytes sent by then and the latency',
    async () => {
      const rig = await httpUpdateBoard();
      const { exitCode, result, output } = await campaign(rig, { points: 1, atLine: /^rst:0x/ });
      expect(exitCode, output).toBe(0);
      const [cut] = result!.cuts;
      expect(cut!.point).toMatchObject({
        phase: 'first-boot',
        lineOccurrence: 1,
        consoleLine: expect.stringMatching(/^rst:0x/),
      });
      expect(cut!.point.driverLatencyMs).toBeGreaterThanOrEqual(0);
      // The restart comes once the whole image was handed over.
      expect(cut!.point).toMatchObject({ wireCount: 'sent', wireBytes: expect.any(Number) });
      expect(['old', 'new']).toContain(cut!.outcome);
      expect(result!.stopped).toBeUndefined();
    },
    120_000,
  );

  itWithVectors(
    'stops the sweep with the reason when the update prints fewer matching lines than asked',
    async () => {
      const rig = await httpUpdateBoard();
      const { result } = await campaign(rig, { points: 2, atLine: /no such line ever/ });
      expect(result!.cuts).toHaveLength(1);
      expect(result!.cuts[0]!.point.consoleLine).toBeUndefined();
      expect(result!.stopped).toMatch(/fewer than 1 lines matching/);
    },
    120_000,
  );
});
