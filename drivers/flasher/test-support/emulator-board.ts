import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The project's CLI, for tests that run it as a user would. */
export const CLI = fileURLToPath(new URL('../../../bin/ota-conformance.js', import.meta.url));

export interface EmulatorBoardEndpoints {
  services: Record<string, { protocol: string; host: string; port: number }>;
  control: string;
  /** `tcp://host:port` */
  console: string;
}

export interface EmulatorBoard {
  endpoints: EmulatorBoardEndpoints;
  /** The console as pyserial and esptool spell a raw TCP port. */
  socketUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `ota-conformance emulate --console tcp` in its own process: a board as the lab sees one, a
 * UART on a TCP port (socket://) and power plus DTR/RTS through the control plane. Reached only
 * through those, never through in-process objects.
 */
export async function startEmulatorBoard(args: string[]): Promise<EmulatorBoard> {
  const child = spawn(process.execPath, [CLI, 'emulate', '--console', 'tcp', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    (async () => {
      for await (const line of lines) if (line.startsWith('{"emulator"')) return line;
      throw new Error(`emulate exited before it served: ${stderr}`);
    })(),
    once(child, 'exit').then(() => {
      throw new Error(`emulate exited before it served: ${stderr}`);
    }),
  ]);
  const endpoints = (JSON.parse(first) as { emulator: EmulatorBoardEndpoints }).emulator;
  return {
    endpoints,
    socketUrl: endpoints.console.replace('tcp://', 'socket://'),
    process: child,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Writes a rig file in a fresh temporary folder and returns its path. */
export function writeRig(rig: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'ota-rig-'));
  const file = join(dir, 'rig.json');
  writeFileSync(file, JSON.stringify(rig, null, 2));
  return file;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the project's CLI in its own process, as a user would. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number];
  return { code, stdout, stderr, ms: Date.now() - started };
}
