import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class SeedClientError extends Error {
  override readonly name = 'SeedClientError';
  readonly code = 'SEED_CLIENT_OUTPUT';
}

/** The seed document's Python client, adapted to the `viperhttp` routes (seed_client.py beside this file). */
export const SEED_CLIENT_SCRIPT = new URL('./seed_client.py', import.meta.url).pathname;

export interface PythonWithRequests {
  interpreter: string;
  requestsVersion: string;
  requestsPath: string;
}

/**
 * Debian's /usr/bin/python3 first (its python3-requests is the seed's dependency as a distribution
 * ships it), then whatever `python3` the PATH names. Undefined, with the reason, when none imports
 * `requests`.
 */
export async function findPythonWithRequests(): Promise<PythonWithRequests | { missing: string }> {
  const failures: string[] = [];
  for (const interpreter of ['/usr/bin/python3', 'python3']) {
    try {
      const { stdout } = await run(interpreter, [
        '-c',
        'import requests; print(requests.__version__); print(requests.__file__)',
      ]);
      const [requestsVersion = '?', requestsPath = '?'] = stdout.trim().split('\n');
      return { interpreter, requestsVersion, requestsPath };
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      failures.push(`${interpreter}: ${message}`);
    }
  }
  return { missing: `no python3 imports requests (${failures.join('; ')})` };
}

/** One upload by the Python client; returns the seconds it measured itself (interpreter start excluded). */
export async function seedUpload(
  python: PythonWithRequests,
  options: { baseUrl: string; token: string; chunkSize: number; imagePath: string },
): Promise<number> {
  const { stdout } = await run(python.interpreter, [
    SEED_CLIENT_SCRIPT,
    options.baseUrl,
    options.token,
    String(options.chunkSize),
    options.imagePath,
  ]);
  const match = /elapsed_s=([\d.]+)/.exec(stdout);
  if (!match) throw new SeedClientError(`seed_client.py printed no elapsed time: ${stdout.slice(0, 200)}`);
  return Number(match[1]);
}
