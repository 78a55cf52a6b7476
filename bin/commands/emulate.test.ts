import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { socatMissing } from '../../emulators/console/socat.test-support.ts';
import { connectTcp } from '../../emulators/console/tcp-client.test-support.ts';
import { EmulateUsageError, emulatorOptionsFrom } from './emulate.ts';

const CLI = fileURLToPath(new URL('../ota-conformance.js', import.meta.url));

const base = {
  profile: 'viperhttp',
  host: '127.0.0.1',
  port: [] as string[],
  console: 'tcp' as const,
  defect: [] as string[],
  option: [] as string[],
  optionEnv: [] as string[],
  timing: 'none' as const,
};

describe('emulate command options', () => {
  it('names the flag of every mistake', () => {
    expect(() => emulatorOptionsFrom({ ...base, profile: 'nope' }, {})).toThrow(
      /--profile: unknown profile 'nope'/,
    );
    expect(() => emulatorOptionsFrom({ ...base, port: ['70000'] }, {})).toThrow(/--port 70000/);
    expect(() => emulatorOptionsFrom({ ...base, option: ['novalue'] }, {})).toThrow(
      /--option: expected key=value/,
    );
    expect(() => emulatorOptionsFrom({ ...base, optionEnv: ['token=MISSING_VAR'] }, {})).toThrow(
      /--option-env token: environment variable MISSING_VAR is not set/,
    );
    expect(() => emulatorOptionsFrom({ ...base, seed: '1.5' }, {})).toThrow(EmulateUsageError);
  });

  it('reads ports, JSON option values and secrets from the environment without echoing them', () => {
    const options = emulatorOptionsFrom(
      {
        ...base,
        port: ['8080', 'udp=8266'],
        option: ['sessionTimeoutMs=250', 'name=plain text'],
        optionEnv: ['token=OTA_TOKEN'],
        seed: '7',
      },
      { OTA_TOKEN: 's3cret-token' },
    );
    expect(options.ports).toEqual({ '*': 8080, udp: 8266 });
    expect(options.options).toEqual({ sessionTimeoutMs: 250, name: 'plain text', token: 's3cret-token' });
    expect(options.seed).toBe(7);
  });
});

describe('emulate command as its own process', () => {
  /** Starts `emulate` with `args`, checks it serves and powers through its control plane, returns its console. */
  async function serveAndPower(args: string[], checkConsole: (console: string) => Promise<void>) {
    const child = spawn(process.execPath, [CLI, 'emulate', '--profile', 'viperhttp', ...args], {
      env: { ...process.env, EMULATE_TEST_TOKEN: 'emulate-token' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout! });
      const [first] = (await once(lines, 'line')) as [string];
      const { emulator } = JSON.parse(first) as {
        emulator: {
          profile: string;
          pid: number;
          control: string;
          console: string;
          services: Record<string, { host: string; port: number }>;
        };
      };
      expect(emulator.profile).toBe('viperhttp');
      expect(emulator.pid).toBe(child.pid);
      await checkConsole(emulator.console);
      const http = emulator.services.http!;
      const status = await request(`http://${http.host}:${http.port}/ota/status`, {
        headers: { 'X-OTA-Token': 'emulate-token' },
      });
      expect(status.statusCode).toBe(200);
      await status.body.dump();
      const off = await request(`${emulator.control}/cm?cmnd=Power%20Off`);
      expect(await off.body.json()).toEqual({ POWER: 'OFF' });
      const refused = await request(`http://${http.host}:${http.port}/ota/status`).catch(
        (error: Error) => error,
      );
      expect(refused).toBeInstanceOf(Error);
      const on = await request(`${emulator.control}/cm?cmnd=Power%20On`);
      expect(await on.body.json()).toEqual({ POWER: 'ON' });
      const again = await request(`http://${http.host}:${http.port}/ota/status`, {
        headers: { 'X-OTA-Token': 'emulate-token' },
      });
      expect(again.statusCode).toBe(200);
      await again.body.dump();
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  }

  it('prints its endpoints, serves its console on TCP by default (no socat), powers through the control plane and exits on SIGTERM', async () => {
    let client: Awaited<ReturnType<typeof connectTcp>> | undefined;
    await serveAndPower(['--option-env', 'token=EMULATE_TEST_TOKEN'], async (console) => {
      expect(console).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      client = await connectTcp(console);
    });
    // The power-on after the cycle printed a fresh boot on the console.
    expect(client!.received()).toMatch(/rst:0x1 \(POWERON_RESET\)/);
    client!.socket.destroy();
  });

  it('serves its console on a pseudo-terminal with --console pty', async (context) => {
    if (socatMissing !== undefined) context.skip(socatMissing);
    await serveAndPower(['--console', 'pty', '--option-env', 'token=EMULATE_TEST_TOKEN'], async (console) => {
      expect(existsSync(console)).toBe(true);
    });
  });

  it('exits with 2 and names the flag for an unknown profile', async () => {
    const child = spawn(process.execPath, [CLI, 'emulate', '--profile', 'nope'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toMatch(/--profile: unknown profile 'nope'/);
  });
});

describe('emulate --option keys', () => {
  const run = async (args: string[]) => {
    const child = spawn(process.execPath, [CLI, 'emulate', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout, stderr };
  };

  it('a misspelt key is an error naming it and the key it resembles; the right key starts the device', async () => {
    const { code, stderr } = await run(['--profile', 'web-update', '--option', 'pasword=secret-1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /--option pasword: the web-update firmware has no option 'pasword' \(did you mean 'password'\?\); its options: authScheme, /,
    );
    const child = spawn(
      process.execPath,
      [CLI, 'emulate', '--profile', 'web-update', '--option', 'password=secret-1'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    expect(JSON.parse(line)).toMatchObject({ emulator: { profile: 'web-update' } });
    child.kill('SIGTERM');
    expect(((await once(child, 'exit')) as [number | null])[0]).toBe(0);
  }, 30_000);

  it('--help lists each firmware’s options with their defaults, and the default rig’s value where it differs', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout.replace(/\s+/g, ' ')).toContain(
      '(choices: "tcp", "pty", "memory", "stdout", default: "tcp")',
    );
    expect(stdout).toMatch(
      / {2}viperhttp:\n(?: {4}.*\n)*? {4}token="ota-e2e-token" {3}rig: "emulator-ota-token"\n/,
    );
    expect(stdout).toMatch(/ {2}web-update:\n(?: {4}.*\n)*? {4}password=""/);
  }, 30_000);
});
