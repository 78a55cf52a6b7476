import { createHash } from 'node:crypto';
import { buildEsp32Image } from '../../../fixtures/esp32-image/index.ts';
import { type EmulatorOptions, type StartedEmulator, startEmulator } from '../../start-emulator.ts';
import { type RawResponse, rawRequest } from './raw-http-client.test-support.ts';

/** What the tests share: an emulator per test, a client that speaks §1.9, boots observed on the console. */
export const TOKEN = 'ota-e2e-token';
export const AUTH = { 'X-OTA-Token': TOKEN } as const;
export const CHUNK = 3840;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function image(version: string, size = 24 * 1024, seed = 7): Uint8Array {
  return buildEsp32Image({ version, size, seed, projectName: 'viperhttp-app' });
}

export interface Booted {
  emulator: StartedEmulator;
  port: number;
  get(path: string, headers?: Record<string, string>): Promise<RawResponse>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<RawResponse>;
}

export async function boot(
  track: StartedEmulator[],
  options: Partial<EmulatorOptions> & Pick<EmulatorOptions, 'profile'>,
): Promise<Booted> {
  const emulator = await startEmulator({ controlPlane: false, ...options });
  track.push(emulator);
  const port = emulator.endpoints().services.http!.port;
  return {
    emulator,
    port,
    get: (path, headers = AUTH) => rawRequest(port, 'GET', path, headers),
    post: (path, body, headers = AUTH) => {
      if (body === undefined) return rawRequest(port, 'POST', path, headers);
      if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
        return rawRequest(
          port,
          'POST',
          path,
          { 'Content-Type': 'application/octet-stream', ...headers },
          Buffer.from(body),
        );
      }
      return rawRequest(
        port,
        'POST',
        path,
        { 'Content-Type': 'application/json', ...headers },
        JSON.stringify(body),
      );
    },
  };
}

/** Boot banners printed so far: the ROM's `rst:` line starts every boot. */
export function bootsSeen(emulator: StartedEmulator): number {
  return emulator.device.console.lines().filter((line) => line.text.startsWith('rst:')).length;
}

/** The version the last boot's `app_init` line printed. */
export function consoleAppVersion(emulator: StartedEmulator): string | undefined {
  const lines = emulator.device.console.lines();
  for (let index = lines.length - 1; index >= 0; index--) {
    const match = /App version:\s+(\S+)$/.exec(lines[index]!.text);
    if (match) return match[1];
  }
  return undefined;
}

/** Waits until the console shows a boot after `before`, then until the status route answers. */
export async function waitForReboot(
  booted: Booted,
  before: number,
  statusPath = '/ota/status',
): Promise<RawResponse> {
  const deadline = Date.now() + 5000;
  while (bootsSeen(booted.emulator) <= before) {
    if (Date.now() > deadline) throw new Error('no reboot seen on the console');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  for (;;) {
    try {
      return await booted.get(statusPath);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/** §1.9 steps 3–4: begin with size and SHA, then raw chunks with `?offset=`. */
export async function pushImage(
  booted: Booted,
  bytes: Uint8Array,
  options: { sha?: string; chunk?: number } = {},
): Promise<RawResponse> {
  const begin = await booted.post('/ota/begin', {
    expected_size: bytes.length,
    expected_sha256: options.sha ?? sha256Hex(bytes),
    force: true,
  });
  if (begin.status !== 200) throw new Error(`begin answered ${begin.status} ${begin.text()}`);
  const chunk = options.chunk ?? CHUNK;
  let last = begin;
  for (let sent = 0; sent < bytes.length; sent += chunk) {
    last = await booted.post(`/ota/chunk?offset=${sent}`, Buffer.from(bytes.subarray(sent, sent + chunk)));
    if (last.status !== 200) throw new Error(`chunk at ${sent} answered ${last.status} ${last.text()}`);
  }
  return last;
}
