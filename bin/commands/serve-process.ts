import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/*
 * `ota-conformance serve` as a user starts it, and devices downloading from it: what serve's tests
 * and its bandwidth benchmark both drive.
 */

const CLI = fileURLToPath(new URL('../ota-conformance.js', import.meta.url));

export interface ServeProcess {
  url: string;
  /** Request log lines printed so far. */
  log: string[];
  stop(): Promise<void>;
}

/** Spawns `ota-conformance serve <args>`; resolves once it printed its `{"serve":…}` line. */
export async function spawnServe(args: readonly string[]): Promise<ServeProcess> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const log: string[] = [];
  const lines = createInterface({ input: child.stdout! });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      lines.on('line', (line) => {
        if (line.startsWith('{"serve"')) resolve((JSON.parse(line) as { serve: { url: string } }).serve.url);
        else log.push(line);
      });
    });
    return { url, log, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface Download {
  status: number;
  body: Buffer;
  /** performance.now() when its first and its last body byte arrived. */
  first: number;
  last: number;
}

/** One download on its own connection, as a device makes it. */
export function download(url: string): Promise<Download> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      const chunks: Buffer[] = [];
      let first = 0;
      response.on('data', (chunk: Buffer) => {
        if (chunks.length === 0) first = performance.now();
        chunks.push(chunk);
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks),
          first,
          last: performance.now(),
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/**
 * `count` devices downloading `path` at once; the aggregate rate from the first body byte anywhere
 * to the last (connection set-up is not the server's rate).
 */
export async function concurrentDownloads(
  url: string,
  count: number,
  path = '/firmware.bin',
): Promise<{ downloads: Download[]; bytes: number; seconds: number; bytesPerSecond: number }> {
  const downloads = await Promise.all(
    Array.from({ length: count }, (_, index) => download(`${url}${path}?device=bench-${index}`)),
  );
  const bytes = downloads.reduce((sum, d) => sum + d.body.length, 0);
  const seconds =
    (Math.max(...downloads.map((d) => d.last)) - Math.min(...downloads.map((d) => d.first))) / 1000;
  return { downloads, bytes, seconds, bytesPerSecond: bytes / seconds };
}
