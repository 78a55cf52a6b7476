import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ViperHttpClient } from '../../drivers/http/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { RawSocketClient } from '../write-path/raw-socket-client.ts';
import { findPythonWithRequests, type PythonWithRequests, seedUpload } from '../write-path/seed-client.ts';
import {
  type BenchClient,
  BenchUsageError,
  type Measurer,
  type RunSample,
  secondsSince,
  withCpu,
} from './measurer.ts';

/**
 * ViperHTTP's request buffer: headers and body of one request must fit 4096 bytes
 * (reference viperhttp-luartos-mqtt.md §1.8); a rig may say otherwise in `limits.requestBufferBytes`.
 */
const REQUEST_BUFFER_BYTES = 4096;
/** The harness client's chunk request head at a 7-digit offset, without the token (measured: 141 B). */
const HARNESS_HEAD_BYTES = 160;
/**
 * python-requests adds User-Agent, Accept-Encoding, Accept and Connection: 248 bytes of head at a
 * 7-digit offset before the token (bench/write-path/write-path.bench.ts).
 */
const SEED_HEAD_BYTES = 248;

function digestOf(image: Uint8Array): string {
  return createHash('sha256').update(image).digest('hex');
}

function requestBuffer(target: Target): number {
  const own = (target.description.limits as Record<string, unknown> | undefined)?.requestBufferBytes;
  return typeof own === 'number' && own > 0 ? own : REQUEST_BUFFER_BYTES;
}

function urlParts(target: Target): { baseUrl: string; host: string; port: number } {
  const url = target.description.url;
  if (url === undefined)
    throw new BenchUsageError(`target ${target.name}: the rig gives no "url" for its HTTP routes`);
  const parsed = new URL(url);
  return {
    baseUrl: url.replace(/\/$/, ''),
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80)),
  };
}

/**
 * viperhttp and viperhttp-doc: begin, one request per chunk, finalize — the slot left unbooted so
 * runs can follow one another. `transfer` is begin to the last chunk's answer (the device writes
 * flash inside each chunk request), `verify` the finalize, whose answer carries the digest the
 * device computed. For `viperhttp` the same emulator or board also gets the raw-socket floor and
 * the seed document's Python client (chunk size cut to fit its longer head).
 */
export async function viperMeasurer(target: Target): Promise<Measurer> {
  const { baseUrl, host, port } = urlParts(target);
  const token = target.description.token ?? '';
  const limit = requestBuffer(target);
  const dialect = target.profile === 'viperhttp-doc' ? 'viperhttp-doc' : 'viperhttp';
  const harnessLimit = limit - HARNESS_HEAD_BYTES - token.length;
  const workDir = await mkdtemp(join(tmpdir(), 'ota-bench-'));
  const harness: BenchClient = {
    name: 'harness',
    chunkFor: (size) => size,
    run: (image, chunkSize) => {
      // The digest is the bench's knowledge, not a client's work: outside the CPU either client is charged.
      const digest = digestOf(image);
      return withCpu(() => harnessUpload(target, baseUrl, dialect, token, image, digest, chunkSize));
    },
  };
  const clients = [harness];
  if (dialect === 'viperhttp') {
    clients.push({
      name: 'raw socket',
      chunkFor: (size) => size,
      run: (image, chunkSize) => {
        const digest = digestOf(image);
        return withCpu(async () => {
          const client = new RawSocketClient({ host, port, token, timeoutMs: target.stepTimeoutMs * 6 });
          try {
            const started = performance.now();
            const result = await client.upload(image, digest, chunkSize);
            const seconds = secondsSince(started);
            const reported = (JSON.parse(result.finalizeBody) as { sha256?: unknown }).sha256;
            if (reported !== digest)
              throw new Error(
                `raw socket: finalize reported sha256 ${String(reported)}, the image has ${digest}`,
              );
            return {
              seconds,
              bytes: image.length,
              phases: {},
              verifiedBy: `sha256 ${digest.slice(0, 12)}… at finalize`,
              requests: result.requests,
            };
          } finally {
            client.close();
          }
        });
      },
    });
    const python = await findPythonWithRequests();
    const seedLimit = limit - SEED_HEAD_BYTES - token.length;
    clients.push({
      name: 'seed (python requests)',
      ...('missing' in python ? { unavailable: python.missing } : {}),
      chunkFor: (size) => Math.min(size, seedLimit),
      run: async (image, chunkSize) => {
        const imagePath = join(workDir, 'image.bin');
        await writeFile(imagePath, image);
        // seed_client.py checks the digest finalize reports itself and fails otherwise.
        const seconds = await seedUpload(python as PythonWithRequests, {
          baseUrl,
          token,
          chunkSize,
          imagePath,
        });
        return {
          seconds,
          bytes: image.length,
          phases: {},
          verifiedBy: 'sha256 at finalize (checked by the script)',
        };
      },
    });
  }
  return {
    target,
    sizeUnit: 'chunk',
    sizes: (requested) => {
      const sizes = requested ?? [1024, 2048, harnessLimit];
      const fitting = sizes.filter((size) => size > 0 && size <= harnessLimit);
      if (fitting.length === 0)
        throw new BenchUsageError(
          `target ${target.name}: no requested chunk size fits its ${limit}-byte request buffer (largest ${harnessLimit} B)`,
        );
      return [...new Set(fitting)];
    },
    clients,
    close: () => rm(workDir, { recursive: true, force: true }),
  };
}

async function harnessUpload(
  target: Target,
  baseUrl: string,
  dialect: 'viperhttp' | 'viperhttp-doc',
  token: string,
  image: Uint8Array,
  digest: string,
  chunkSize: number,
): Promise<RunSample> {
  const client = new ViperHttpClient({
    baseUrl,
    targetName: target.name,
    dialect,
    ...(token === '' ? {} : { token }),
    chunkSize,
    timeouts: { stepMs: target.stepTimeoutMs },
    redact: (text) => target.redactor.redact(text),
  });
  try {
    // No abort first: begin's `force` aborts a session left open (reference viperhttp-luartos-mqtt.md
    // §1.5 ota_begin step 2), so the harness sends exactly the raw-socket floor's requests.
    const started = performance.now();
    await client.begin(
      dialect === 'viperhttp'
        ? { expectedSize: image.length, expectedSha256: digest, force: true }
        : { size: image.length },
    );
    let requests = 1;
    for (let offset = 0; offset < image.length; offset += chunkSize) {
      await client.chunk(image.subarray(offset, Math.min(offset + chunkSize, image.length)), { offset });
      requests++;
    }
    const transferred = performance.now();
    const outcome = await client.finalize(
      dialect === 'viperhttp'
        ? { setBoot: false, strictSize: true, reboot: false }
        : { sha256: digest, reboot: false },
    );
    const seconds = secondsSince(started);
    const reported = outcome.kind === 'committed' ? outcome.result.sha256 : undefined;
    if (reported !== undefined && reported !== digest)
      throw new Error(`finalize reported sha256 ${String(reported)}, the image has ${digest}`);
    if (outcome.kind !== 'committed' || (reported === undefined && dialect === 'viperhttp'))
      throw new Error(`finalize did not confirm the image: ${JSON.stringify(outcome)}`);
    return {
      seconds,
      bytes: image.length,
      phases: { transfer: (transferred - started) / 1000, verify: secondsSince(transferred) },
      verifiedBy:
        reported === undefined
          ? `finalize accepted the sha256 the harness sent (${digest.slice(0, 12)}…)`
          : `sha256 ${digest.slice(0, 12)}… at finalize`,
      requests: requests + 1,
    };
  } finally {
    await client.destroy();
  }
}
