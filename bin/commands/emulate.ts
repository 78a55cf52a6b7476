import { fileURLToPath } from 'node:url';
import { type Command, Option } from 'commander';
import type { EmulatorOptions } from '../../emulators/index.ts';
import { PROFILES, type Profile } from '../../vocabulary/index.ts';
import { checkOptionKeys, optionsHelp } from './emulate-options.ts';

export class EmulateUsageError extends Error {
  readonly code = 'EMULATE_USAGE';
}

interface EmulateFlags {
  profile: string;
  platform?: 'esp32' | 'esp8266';
  host: string;
  port: string[];
  console: 'memory' | 'pty' | 'tcp' | 'stdout';
  ptyLink?: string;
  defect: string[];
  option: string[];
  optionEnv: string[];
  timing: 'none' | 'esp32' | 'esp8266';
  seed?: string;
  controlPort?: string;
  controlTokenEnv?: string;
  name?: string;
  deviceJson?: string;
  chipFeature?: string[];
  receivedDir?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Filled by prepareEmulateHelp() before `emulate --help` renders (the emulators load only then). */
let optionsHelpText = '';

/** Loads every firmware's options and the default rig's, for the options section of `emulate --help`. */
export async function prepareEmulateHelp(): Promise<void> {
  const { availableProfiles, firmwareFor } = await import('../../emulators/index.ts');
  const { emulatorOptionsFor, loadRig, resolveSecrets } = await import('../../rigs/index.ts');
  const rig = await loadRig(fileURLToPath(new URL('../../rigs/emulators.json', import.meta.url)));
  const rigOptions = new Map<Profile, Readonly<Record<string, unknown>>>();
  for (const loaded of rig.targets) {
    if (loaded.kind !== 'emulator') continue;
    // Defaults only: the environment's secrets never reach a help text.
    const { target } = resolveSecrets(loaded, {});
    if (target.kind !== 'emulator') continue;
    const options = emulatorOptionsFor(target);
    if (!rigOptions.has(options.profile)) rigOptions.set(options.profile, options.options ?? {});
  }
  optionsHelpText = optionsHelp(
    availableProfiles().map((profile) => ({ profile, defaults: firmwareFor(profile).defaultOptions })),
    rigOptions,
  );
}

/**
 * `ota-conformance emulate`: one emulated device in its own process, reached only through its
 * sockets, its control plane and its console (TCP by default, as a networked serial server serves
 * a board's UART; a pseudo-terminal with `--console pty`), like a board on a bench.
 * Prints `{"emulator":{…endpoints…}}` as one line once it serves, then runs until SIGINT/SIGTERM.
 */
export function registerEmulateCommand(program: Command): void {
  program
    .command('emulate')
    .description('Run one emulated device in this process and print its endpoints as one JSON line')
    .addHelpText('after', () => optionsHelpText)
    .requiredOption('--profile <profile>', `protocol profile (${PROFILES.join(', ')})`)
    .addOption(new Option('--platform <platform>', 'chip family').choices(['esp32', 'esp8266']))
    .option('--host <host>', 'address the device binds to', '127.0.0.1')
    .option('--port <port>', 'port for every endpoint (N) or one endpoint (name=N); repeatable', collect, [])
    .addOption(
      new Option(
        '--console <mode>',
        'where the UART goes: tcp (a tcp://host:port console, like a networked serial server), pty (a pseudo-terminal; needs socat), memory or stdout',
      )
        .choices(['tcp', 'pty', 'memory', 'stdout'])
        .default('tcp'),
    )
    .option('--pty-link <path>', 'path of the console PTY link (with --console pty)')
    .option('--defect <name>', 'start with a deliberate non-conformance; repeatable', collect, [])
    .option('--option <key=value>', 'firmware option (JSON value or string); repeatable', collect, [])
    .option(
      '--option-env <key=VAR>',
      'firmware option read from an environment variable; repeatable',
      collect,
      [],
    )
    .addOption(
      new Option('--timing <profile>', 'flash timing profile')
        .choices(['none', 'esp32', 'esp8266'])
        .default('none'),
    )
    .option('--seed <n>', 'seed for power-cut and image randomness')
    .option(
      '--received-dir <dir>',
      'save every image the chip receives (each run of flash writes) in this folder',
    )
    .addOption(
      new Option('--chip-feature <feature>', 'ESP32 bootloader feature: rollback, anti-rollback; repeatable')
        .choices(['rollback', 'anti-rollback'])
        .argParser((value: string, previous: string[] = []) => [...previous, value]),
    )
    .option('--control-port <n>', 'port of the power control plane (default: any free port)')
    .option('--control-token-env <VAR>', 'environment variable holding the control plane token')
    .option('--name <name>', 'the device name it prints and logs')
    // Chip settings a rig derives from a target's claims (rollback, efuse secure version): how a
    // run's emulator-process target gets the same device as an embedded one.
    .addOption(
      new Option(
        '--device-json <json>',
        'chip settings as JSON: {"esp32":{…}} or {"esp8266":{…}}',
      ).hideHelp(),
    )
    .action(async (flags: EmulateFlags) => {
      const options = emulatorOptionsFrom(flags, process.env);
      // The emulators load when the command runs, not for `--help` or another verb.
      const { availableProfiles, firmwareFor, startEmulator } = await import('../../emulators/index.ts');
      if (!availableProfiles().includes(options.profile)) {
        throw new EmulateUsageError(
          `--profile: no emulated firmware for '${options.profile}' yet; available: ${availableProfiles().join(', ')}`,
        );
      }
      checkOptionKeys(
        { profile: options.profile, defaults: firmwareFor(options.profile).defaultOptions },
        Object.keys(options.options),
      );
      // Listen for the stop signal before saying we serve: a supervisor may send SIGTERM the
      // moment it reads the endpoints line, and that must stop the device cleanly.
      const stopRequested = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      const emulator = await startEmulator(options);
      const endpoints = emulator.endpoints();
      process.stdout.write(
        `${JSON.stringify({
          emulator: {
            name: emulator.name,
            profile: emulator.profile,
            platform: emulator.platform,
            pid: process.pid,
            defects: emulator.defects,
            ...endpoints,
          },
        })}\n`,
      );
      await stopRequested;
      await emulator.stop();
    });
}

/** Turns the command line into emulator options; every mistake names the flag. */
export function emulatorOptionsFrom(flags: EmulateFlags, env: NodeJS.ProcessEnv) {
  if (!(PROFILES as readonly string[]).includes(flags.profile)) {
    throw new EmulateUsageError(
      `--profile: unknown profile '${flags.profile}'; known: ${PROFILES.join(', ')}`,
    );
  }
  const ports: Record<string, number> = {};
  for (const spec of flags.port) {
    const [name, value] = spec.includes('=') ? spec.split('=', 2) : ['*', spec];
    ports[name!] = parsePort(value!, `--port ${spec}`);
  }
  const options: Record<string, unknown> = {};
  for (const spec of flags.option) {
    const [key, value] = splitPair(spec, '--option');
    options[key] = parseValue(value);
  }
  for (const spec of flags.optionEnv) {
    const [key, variable] = splitPair(spec, '--option-env');
    const value = env[variable];
    if (value === undefined) {
      throw new EmulateUsageError(`--option-env ${key}: environment variable ${variable} is not set`);
    }
    options[key] = value;
  }
  let controlToken: string | undefined;
  if (flags.controlTokenEnv !== undefined) {
    controlToken = env[flags.controlTokenEnv];
    if (controlToken === undefined) {
      throw new EmulateUsageError(
        `--control-token-env: environment variable ${flags.controlTokenEnv} is not set`,
      );
    }
  }
  const seed = flags.seed === undefined ? undefined : Number(flags.seed);
  if (seed !== undefined && !Number.isInteger(seed)) {
    throw new EmulateUsageError(`--seed: expected an integer, got '${flags.seed}'`);
  }
  let device: { esp32?: EmulatorOptions['esp32']; esp8266?: EmulatorOptions['esp8266'] } = {};
  if (flags.deviceJson !== undefined) {
    try {
      device = JSON.parse(flags.deviceJson) as typeof device;
    } catch (error) {
      throw new EmulateUsageError(`--device-json: not JSON: ${(error as Error).message}`);
    }
  }
  return {
    profile: flags.profile as Profile,
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(device.esp32 === undefined ? {} : { esp32: device.esp32 }),
    ...(device.esp8266 === undefined ? {} : { esp8266: device.esp8266 }),
    platform: flags.platform,
    host: flags.host,
    ports,
    console: flags.console,
    ptyLink: flags.ptyLink,
    defects: flags.defect,
    options,
    timing: flags.timing,
    seed,
    ...(flags.receivedDir === undefined ? {} : { receivedDir: flags.receivedDir }),
    ...(flags.chipFeature?.length
      ? {
          esp32: {
            chip: {
              rollback: flags.chipFeature.includes('rollback'),
              antiRollback: flags.chipFeature.includes('anti-rollback'),
            },
          },
        }
      : {}),
    controlPlane: {
      port: flags.controlPort === undefined ? undefined : parsePort(flags.controlPort, '--control-port'),
      token: controlToken,
    },
  };
}

function splitPair(spec: string, flag: string): [string, string] {
  const at = spec.indexOf('=');
  if (at <= 0) throw new EmulateUsageError(`${flag}: expected key=value, got '${spec}'`);
  return [spec.slice(0, at), spec.slice(at + 1)];
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function parsePort(text: string, flag: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new EmulateUsageError(`${flag}: expected a port number 0-65535, got '${text}'`);
  }
  return port;
}
