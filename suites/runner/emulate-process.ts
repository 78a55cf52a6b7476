import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EmulatorOptions } from '../../emulators/index.ts';
import type { HostedEmulator } from './emulator-host.ts';

const CLI = fileURLToPath(new URL('../../bin/ota-conformance.js', import.meta.url));

export class EmulateProcessError extends Error {
  readonly code = 'TARGET_SETUP';
}

/** Firmware options that are secrets: they go to the child through its environment, never its argv. */
const SECRET_OPTIONS = new Set(['token', 'password']);

/**
 * The `emulator-process` kind: the run starts `ota-conformance emulate` (one device, its own
 * process) with the rig entry's options as command-line flags, reads the endpoints line it prints,
 * and from then on reaches it only through those endpoints, as a board. Secrets travel in the
 * child's environment (`--option-env`, `--control-token-env`), so `ps` never shows them.
 */
export async function startEmulateProcess(
  options: EmulatorOptions,
): Promise<HostedEmulator & { stop(): Promise<void> }> {
  const { args, env } = emulateArguments(options);
  const child: ChildProcess = spawn(process.execPath, [CLI, 'emulate', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => line as string),
    once(child, 'exit').then(() => undefined),
  ]);
  if (first === undefined) {
    throw new EmulateProcessError(
      `emulator ${options.name ?? options.profile}: ota-conformance emulate exited before serving: ${stderr.trim().split('\n').at(-1) ?? ''}`,
    );
  }
  const { emulator } = JSON.parse(first) as {
    emulator: HostedEmulator & HostedEmulator['endpoints'];
  };
  return {
    name: emulator.name,
    profile: emulator.profile,
    platform: emulator.platform,
    endpoints: {
      services: emulator.services,
      control: emulator.control,
      console: emulator.console,
      ...(emulator.restartDelayMs === undefined ? {} : { restartDelayMs: emulator.restartDelayMs }),
    },
    stop,
  };
}

/** The `emulate` command line for these options, and the environment that carries their secrets. */
export function emulateArguments(options: EmulatorOptions): { args: string[]; env: Record<string, string> } {
  const args = ['--profile', options.profile];
  const env: Record<string, string> = {};
  if (options.name) args.push('--name', options.name);
  if (options.platform) args.push('--platform', options.platform);
  for (const defect of options.defects ?? []) args.push('--defect', defect);
  for (const [key, value] of Object.entries(options.options ?? {})) {
    if (value === undefined) continue;
    if (SECRET_OPTIONS.has(key) && typeof value === 'string') {
      const variable = `OTA_EMULATE_${key.toUpperCase()}`;
      env[variable] = value;
      args.push('--option-env', `${key}=${variable}`);
    } else args.push('--option', `${key}=${JSON.stringify(value)}`);
  }
  if (typeof options.timing === 'string') args.push('--timing', options.timing);
  if (options.seed !== undefined) args.push('--seed', String(options.seed));
  if (options.host) args.push('--host', options.host);
  for (const [name, port] of Object.entries(options.ports ?? {})) args.push('--port', `${name}=${port}`);
  args.push('--console', options.console ?? 'tcp');
  if (options.esp32 || options.esp8266) {
    args.push('--device-json', JSON.stringify({ esp32: options.esp32, esp8266: options.esp8266 }));
  }
  if (typeof options.controlPlane === 'object') {
    if (options.controlPlane.port !== undefined)
      args.push('--control-port', String(options.controlPlane.port));
    if (options.controlPlane.token !== undefined) {
      env.OTA_EMULATE_CONTROL_TOKEN = options.controlPlane.token;
      args.push('--control-token-env', 'OTA_EMULATE_CONTROL_TOKEN');
    }
  }
  return { args, env };
}
