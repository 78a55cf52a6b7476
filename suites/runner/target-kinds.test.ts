import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { checkContainerRuntime, startEmulatorContainer } from '../../drivers/container/index.ts';
import { connectTcp } from '../../emulators/console/tcp-client.test-support.ts';
import { parseRig } from '../../rigs/index.ts';
import { type StartedTargets, startTargets } from './start-targets.ts';

/*
 * The target kinds the run starts itself besides its embedded emulators: `emulator-process`
 * (`ota-conformance emulate` in a process of its own, reached like a board) and `container`
 * (an image started with testcontainers, its ports mapped).
 */

const lockDir = mkdtempSync(join(tmpdir(), 'target-kinds-'));
const started: StartedTargets[] = [];
afterEach(async () => {
  for (const targets of started.splice(0)) await targets.stop();
});

async function start(target: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const rig = parseRig(JSON.stringify({ name: 'kinds', targets: [target] }), 'kinds.json');
  const targets = await startTargets(rig, rig.targets, { env, lockDir });
  started.push(targets);
  return targets;
}

describe('emulator-process targets', () => {
  it('the run starts `ota-conformance emulate` and reaches it as a board: token, TCP console, power plane; stop() ends it', async () => {
    const targets = await start(
      {
        name: 'viper-process',
        kind: 'emulator-process',
        profile: 'viperhttp',
        platform: 'esp32',
        capabilities: ['console', 'power-cycle'],
        token: { env: 'KINDS_TOKEN', default: 'unused-default' },
      },
      { KINDS_TOKEN: 'process-token-7' },
    );
    expect(targets.notStarted).toEqual([]);
    const [description] = targets.descriptions;
    expect(description).toMatchObject({
      name: 'viper-process',
      kind: 'emulator-process',
      token: 'process-token-7',
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      console: { port: expect.stringMatching(/^tcp:\/\//) },
      power: { type: 'emulator-control' },
    });
    const status = (token: string) =>
      request(`${description!.url}/ota/status`, { headers: { 'X-OTA-Token': token } });
    const accepted = await status('process-token-7');
    expect(accepted.statusCode).toBe(200);
    await accepted.body.dump();
    const refused = await status('wrong-token');
    expect(refused.statusCode).toBe(401);
    await refused.body.dump();
    // Its console prints a fresh boot when its power plane cycles it, like a board's UART.
    const console = await connectTcp(description!.console!.port);
    const power = description!.power as { url: string };
    await request(`${power.url}/power/cycle?offMs=20`, { method: 'POST' }).then((r) => r.body.dump());
    for (let attempt = 0; attempt < 200 && !/rst:0x1 \(POWERON_RESET\)/.test(console.received()); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(console.received()).toMatch(/rst:0x1 \(POWERON_RESET\)/);
    console.socket.destroy();

    await targets.stop();
    started.length = 0;
    await expect(status('process-token-7')).rejects.toThrow();
  }, 60_000);

  it('an emulate process that cannot start (an unknown defect) is a rig error with emulate’s own message', async () => {
    const targets = await start({
      name: 'viper-broken',
      kind: 'emulator-process',
      profile: 'viperhttp',
      emulator: { defects: ['no-such-defect'] },
    });
    expect(targets.descriptions).toEqual([]);
    expect(targets.notStarted).toEqual([
      { target: 'viper-broken', reason: expect.stringMatching(/no-such-defect/) },
    ]);
  }, 60_000);
});

describe('restart delays', () => {
  it('an emulated firmware’s own restart delay reaches its description, so the no-reboot windows are timed by it', async () => {
    // ESP8266HTTPUpdateServer restarts delay(100) after its answer; the windows are that and 150 ms.
    const targets = await start({
      name: 'web-process',
      kind: 'emulator-process',
      profile: 'web-update',
      platform: 'esp8266',
      capabilities: ['console'],
    });
    expect(targets.notStarted).toEqual([]);
    expect(targets.descriptions[0]?.options?.restartDelayMs).toBe(100);
    // A firmware that restarts only when asked (ViperHTTP) reports none: the rig's word, else 600 ms.
    const viper = await start({ name: 'viper-delay', kind: 'emulator-process', profile: 'viperhttp' });
    expect(viper.descriptions[0]?.options?.restartDelayMs).toBeUndefined();
  }, 60_000);
});

describe('emulator consoles', () => {
  it('an emulator whose rig keeps its console in memory is refused, naming the field; tcp (the default) is served', async () => {
    const refused = await start({
      name: 'viper-memory',
      kind: 'emulator-process',
      profile: 'viperhttp',
      emulator: { console: 'memory' },
    });
    expect(refused.notStarted).toEqual([
      {
        target: 'viper-memory',
        reason:
          "target viper-memory: emulator.console 'memory' keeps the UART where no suite can read it; use 'tcp' (the default) or 'pty'",
      },
    ]);
    const served = await start({ name: 'viper-tcp', kind: 'emulator-process', profile: 'viperhttp' });
    expect(served.descriptions[0]?.console?.port).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
  }, 60_000);
});

const runtime = await checkContainerRuntime();

describe('container targets', () => {
  const container = (image: string) => ({
    name: 'viper-container',
    kind: 'container',
    profile: 'viperhttp',
    platform: 'esp32',
    token: { env: 'KINDS_CONTAINER_TOKEN' },
    container: {
      image,
      ports: { http: 8080, control: 8081 },
      command: ['--profile', 'viperhttp', '--option-env', 'token=OTA_TOKEN'],
      env: { OTA_TOKEN: { env: 'KINDS_CONTAINER_TOKEN' } },
    },
  });

  it('without a container engine the target is one rig error carrying the runtime’s own reason', async (context) => {
    if (runtime.available) return context.skip(`a container runtime answers here (${runtime.info})`);
    const targets = await start(container('ota-conformance-emulator:local'), {
      KINDS_CONTAINER_TOKEN: 'container-token-3',
    });
    expect(targets.descriptions).toEqual([]);
    expect(targets.notStarted).toEqual([
      {
        target: 'viper-container',
        reason: `target viper-container: cannot start container ota-conformance-emulator:local: no container runtime: ${runtime.reason}`,
      },
    ]);
  });

  it('starts the image with testcontainers and describes its mapped ports as the target’s endpoints', async (context) => {
    // Without a container engine (as on this project's CI machines) the runtime's own error is the reason.
    if (!runtime.available) return context.skip(`no container runtime: ${runtime.reason}`);
    // Builds (or reuses) the emulator image from drivers/container/Dockerfile.
    const builder = await startEmulatorContainer({ profile: 'viperhttp' });
    await builder.stop();
    const targets = await start(container('ota-conformance-emulator:local'), {
      KINDS_CONTAINER_TOKEN: 'container-token-3',
    });
    expect(targets.notStarted).toEqual([]);
    const [description] = targets.descriptions;
    expect(description).toMatchObject({ kind: 'container', power: { type: 'emulator-control' } });
    const status = await request(`${description!.url}/ota/status`, {
      headers: { 'X-OTA-Token': 'container-token-3' },
    });
    expect(status.statusCode).toBe(200);
    await status.body.dump();
  }, 600_000);
});
