import { describeBoard, resolveBoardPort } from '../../drivers/board/index.ts';
import type { TargetDescription } from '../../drivers/target/index.ts';
import type { EmulatorOptions } from '../../emulators/index.ts';
import {
  emulatorOptionsFor,
  type LoadedTarget,
  type ResolvedTarget,
  type Rig,
  resolveSecrets,
} from '../../rigs/index.ts';
import { startEmulateProcess } from './emulate-process.ts';
import { type EmulatorCrash, EmulatorHost, type HostedEmulator } from './emulator-host.ts';
import { freePort } from './free-port.ts';
import { MqttWiring } from './mqtt-wiring.ts';
import { startEmbeddedUpdateServer, wirePullEmulator } from './pull-wiring.ts';
import { describeServerUnderTest } from './server-under-test.ts';

/** What the run started for its targets, to stop afterwards. */
export interface StartedTargets {
  descriptions: TargetDescription[];
  /** Targets the run could not start: each becomes a rig error, not a device failure. */
  notStarted: { target: string; reason: string }[];
  notes: string[];
  /** Embedded emulators that crashed during the run: a rig error each, with the stack. */
  crashes(): readonly EmulatorCrash[];
  stop(): Promise<void>;
}

/**
 * Starts what the rig says the harness runs itself (embedded emulators) and turns every target
 * into the description a suite sees: endpoints, console port and power switch — for an emulator
 * the same kinds of endpoints a bench board has (a PTY console, a Tasmota-compatible switch).
 */
export async function startTargets(
  rig: Rig,
  targets: readonly LoadedTarget[],
  options: {
    env: NodeJS.ProcessEnv;
    lockDir: string;
    /** A host the caller started early (EmulatorHost.startEarlyFor); stopped with the targets. */
    emulatorHost?: EmulatorHost;
  },
): Promise<StartedTargets> {
  // Started on the first emulator target: a rig of boards needs no emulator process.
  let host: EmulatorHost | undefined = options.emulatorHost;
  const stopAlso: (() => Promise<void>)[] = [];
  const descriptions: TargetDescription[] = [];
  const notStarted: StartedTargets['notStarted'] = [];
  const notes: string[] = [];
  const mqtt = new MqttWiring();
  const start = async (target: ResolvedTarget): Promise<TargetDescription | undefined> => {
    if (target.kind === 'emulator') {
      host ??= EmulatorHost.start();
      const embedded = host;
      return await startEmbeddedEmulator(target, options.lockDir, mqtt, (device) =>
        embedded.startEmulator(device),
      );
    } else if (target.kind === 'emulator-process') {
      // `ota-conformance emulate` in a process of its own, reached like a board.
      const launch = async (device: EmulatorOptions) => {
        const started = await startEmulateProcess(device);
        stopAlso.push(started.stop);
        return started;
      };
      return await startEmbeddedEmulator(target, options.lockDir, mqtt, launch);
    } else if (target.kind === 'container') {
      // testcontainers loads only for a rig that has a container.
      const { startContainerTarget } = await import('../../drivers/container/index.ts');
      const started = await startContainerTarget(target, options.lockDir);
      stopAlso.push(started.stop);
      return await mqtt.wireBoard(target, started.description);
    } else if (target.kind === 'update-server' && target.embedded) {
      const server = await startEmbeddedUpdateServer(target, options.lockDir);
      stopAlso.push(server.stop);
      return server.description;
    } else if (target.kind === 'update-server') {
      return await describeServerUnderTest(target, options.lockDir);
    } else if (target.kind === 'board') {
      // The rig's identity picks (or checks) the board's port in serialport's port list.
      const board = describeBoard(await resolveBoardPort(target), options.lockDir);
      // `"prepare": "flash"`: the vendor's baseline written and booted before the suites run
      // (issue 10); a board that cannot be flashed is this target's rig error.
      if (board.prepare === 'flash') {
        const { flashTarget } = await import('../../drivers/flasher/index.ts');
        const flashed = await flashTarget(board);
        notes.push(
          `${target.name}: flashed ${flashed.build.version ?? flashed.build.source} (${flashed.files.length} files, MD5-verified, read back) in ${flashed.durationMs} ms`,
        );
      }
      return await mqtt.wireBoard(target, board);
    }
    return undefined;
  };
  // Emulators, update servers and containers start side by side (emulator boots, certificates,
  // brokers); boards one after another (two rig entries may name one board, and flashing it twice
  // at once would break both). Descriptions and failures keep the rig's order.
  const resolved = targets.map((loaded) => resolveSecrets(loaded, options.env).target);
  const outcomes = new Map<ResolvedTarget, { description?: TargetDescription; reason?: string }>();
  const attempt = async (target: ResolvedTarget) => {
    try {
      outcomes.set(target, { description: await start(target) });
    } catch (error) {
      outcomes.set(target, { reason: (error as Error).message });
    }
  };
  const boards = async () => {
    for (const target of resolved.filter((target) => target.kind === 'board')) await attempt(target);
  };
  await Promise.all([...resolved.filter((target) => target.kind !== 'board').map(attempt), boards()]);
  for (const target of resolved) {
    const outcome = outcomes.get(target);
    if (outcome?.description) descriptions.push(outcome.description);
    else if (outcome?.reason !== undefined) notStarted.push({ target: target.name, reason: outcome.reason });
  }
  void rig;
  return {
    descriptions,
    notStarted,
    notes,
    crashes: () => host?.crashes ?? [],
    stop: async () => {
      await Promise.all([host?.stop(), ...stopAlso.map((stop) => stop())]);
      // After the devices: they disconnect from the broker before it goes away.
      await mqtt.stop();
    },
  };
}

type ResolvedOf<K extends ResolvedTarget['kind']> = Extract<ResolvedTarget, { kind: K }>;

/**
 * Where a started emulator's UART goes, as its rig entry says: `tcp` (the default, like a lab's
 * networked serial server) or `pty` (socat). `memory` would keep it where no suite can read it.
 */
function consoleModeFor(name: string, mode: EmulatorOptions['console']): 'tcp' | 'pty' {
  if (mode === 'pty') return 'pty';
  if (mode === 'memory' || mode === 'stdout') {
    throw new Error(
      `target ${name}: emulator.console '${mode}' keeps the UART where no suite can read it; use 'tcp' (the default) or 'pty'`,
    );
  }
  return 'tcp';
}

/**
 * An emulator the run starts itself, described with the endpoints a bench board has: `launch`
 * puts it in the run's emulator host (kind `emulator`) or in an `ota-conformance emulate` process
 * of its own (kind `emulator-process`).
 */
async function startEmbeddedEmulator(
  target: ResolvedOf<'emulator' | 'emulator-process'>,
  lockDir: string,
  mqtt: MqttWiring,
  launch: (options: EmulatorOptions) => Promise<HostedEmulator>,
): Promise<TargetDescription> {
  const options = emulatorOptionsFor(target);
  const updatePort = target.updateServer ? (target.updateServer.port ?? (await freePort())) : undefined;
  const updateHost = target.updateServer?.host ?? '127.0.0.1';
  const firmwareOptions = { ...options.options };
  if (updatePort !== undefined)
    firmwareOptions.updateUrl ??= `http://${updateHost}:${updatePort}/firmware.bin`;
  const updateAddress = updatePort === undefined ? undefined : { host: updateHost, port: updatePort };
  const mqttFields = await mqtt.wireEmulator(target, firmwareOptions, updateAddress);
  const pull = await wirePullEmulator(target, firmwareOptions, updateHost, updatePort);
  const emulator = await launch({
    ...options,
    ...pull.emulator,
    options: firmwareOptions,
    // The console is served on a TCP port, like a lab's networked serial server: every suite
    // file connects for its own duration and sees what the chip prints from then on. An
    // emulator-process may ask for a PTY instead (its rig `emulator.console`).
    console: consoleModeFor(target.name, options.console),
  });
  const endpoints = emulator.endpoints;
  const http = endpoints.services.http;
  const ota = endpoints.services.ota;
  const capabilities = target.capabilities;
  const description: TargetDescription = {
    name: target.name,
    profile: target.profile,
    platform: emulator.platform,
    kind: target.kind,
    capabilities,
    ...(target.limits ? { limits: target.limits } : {}),
    ...(target.tls ? { tls: target.tls } : {}),
    ...(target.token === undefined ? {} : { token: target.token }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(http ? { url: `http://${http.host}:${http.port}` } : {}),
    ...(ota ? { host: ota.host, port: ota.port } : {}),
    ...(updatePort === undefined
      ? {}
      : { updateServer: { host: updateHost, port: updatePort, ...pull.updateServer } }),
    ...mqttFields,
    // The emulator's own word on its restart delay, over whatever the rig wrote: the firmware
    // knows what it does, and the no-reboot windows are timed by it (strategy/observe.ts).
    options:
      endpoints.restartDelayMs === undefined
        ? firmwareOptions
        : { ...firmwareOptions, restartDelayMs: endpoints.restartDelayMs },
    ...(endpoints.console ? { console: { port: endpoints.console, baudRate: 115200, reopen: true } } : {}),
    ...(endpoints.control ? { power: { type: 'emulator-control' as const, url: endpoints.control } } : {}),
    lockDir,
  };
  return description;
}
