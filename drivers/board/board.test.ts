import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEsp32Image } from '../../fixtures/index.ts';
import { type BoardTarget, loadRig, type Resolved, resolveSecrets } from '../../rigs/index.ts';
import { ViperHttpClient } from '../http/index.ts';
import { connectTarget, type Target } from '../target/index.ts';
import { describeBoard } from './describe-board.ts';

const CLI = fileURLToPath(new URL('../../bin/ota-conformance.js', import.meta.url));
const TOKEN = 'bench-board-token';

interface EmulatorLine {
  emulator: { control: string; console: string; services: { http: { host: string; port: number } } };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An emulator in its own process: the harness knows it only by the endpoints it prints. */
async function startEmulatorProcess(): Promise<EmulatorLine['emulator']> {
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, 'emulate', '--profile', 'viperhttp', '--console', 'tcp', '--option-env', 'token=BOARD_TEST_TOKEN'],
    { env: { ...process.env, BOARD_TEST_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(async () => {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return (JSON.parse(line) as EmulatorLine).emulator;
}

describe('board driver', () => {
  it('drives an emulator process from a rig entry like a bench board: update over the network, power cycle through a Tasmota plug, boots seen on its TCP console', async () => {
    const emulator = await startEmulatorProcess();
    const dir = mkdtempSync(join(tmpdir(), 'board-rig-'));
    const rigFile = join(dir, 'bench.json');
    writeFileSync(
      rigFile,
      JSON.stringify({
        name: 'bench',
        targets: [
          {
            name: 'bench-esp32',
            kind: 'board',
            profile: 'viperhttp',
            platform: 'esp32',
            capabilities: ['console', 'power-cycle', 'rollback'],
            url: `http://${emulator.services.http.host}:${emulator.services.http.port}`,
            token: { env: 'BENCH_OTA_TOKEN' },
            console: { port: emulator.console, baudRate: 115200 },
            power: { type: 'tasmota', url: emulator.control },
          },
        ],
      }),
    );
    const rig = await loadRig(rigFile, { env: { BENCH_OTA_TOKEN: TOKEN } });
    const { target: entry } = resolveSecrets(rig.targets[0]!, { BENCH_OTA_TOKEN: TOKEN });
    const target: Target = await connectTarget(
      describeBoard(entry as Resolved<BoardTarget>, join(dir, 'locks')),
    );
    cleanups.push(() => target.dispose());
    expect(target.power?.capabilities.has('power-cycle')).toBe(true);

    const client = new ViperHttpClient({
      baseUrl: target.description.url!,
      targetName: target.name,
      dialect: 'viperhttp',
      token: target.description.token,
      timeouts: { stepMs: target.stepTimeoutMs },
    });
    cleanups.push(() => client.close());
    const image = buildEsp32Image({ version: '2.4.0', size: 96 * 1024, seed: 24 });
    await client.pushImage(image, { reboot: true });
    await target.console!.expect(/app_init: App version:\s+2\.4\.0/, {
      timeoutMs: 10_000,
      step: 'new image boots',
    });
    await client.markValid();

    await target.power!.cycle(200);
    await target.console!.expect('rst:0x1 (POWERON_RESET)', { timeoutMs: 10_000, step: 'power-on reset' });
    await target.console!.expect(/app_init: App version:\s+2\.4\.0/, {
      timeoutMs: 10_000,
      step: 'marked-valid image boots again',
    });
    expect((await client.status()).running_partition?.label).toBe('ota_1');
  }, 60_000);
});
