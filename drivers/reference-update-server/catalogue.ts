import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEsp32Image, buildEsp8266Image } from '../../fixtures/index.ts';

/** One published build: its version (HTTPUpdate) or commit (Lua RTOS) and its bytes. */
export interface Release {
  version: string;
  bytes: Uint8Array;
  md5: string;
  sha256: string;
}

/**
 * Releases per firmware id (Lua RTOS `firmware=`). An HTTPUpdate server picks the folder named
 * after the asking chip (`esp8266`, `esp32`) when there is one, else the id `default`.
 */
export interface Catalogue {
  /** Newest last. */
  releases: Map<string, Release[]>;
}

export class ReferenceServerError extends Error {
  override readonly name = 'ReferenceServerError';
  constructor(
    readonly code:
      | 'REFERENCE_SERVER_CATALOGUE'
      | 'REFERENCE_SERVER_DEFECT'
      | 'REFERENCE_SERVER_LISTEN'
      | 'REFERENCE_SERVER_TRIGGER'
      | 'REFERENCE_SERVER_ROLLOUT',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export const DEFAULT_FIRMWARE_ID = 'default';

function release(version: string, bytes: Uint8Array): Release {
  return {
    version,
    bytes,
    md5: createHash('md5').update(bytes).digest('hex'),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/**
 * Reads a firmware folder: `<dir>/<firmware-id>/<version>.bin`, plus `<dir>/*.bin` as the
 * `default` id. Which release is newest is named by a `latest` file (one line, the version) in the
 * same folder, else the highest version in numeric-aware order.
 */
export async function loadCatalogue(directory: string): Promise<Catalogue> {
  const releases = new Map<string, Release[]>();
  const readFolder = async (folder: string, id: string) => {
    const entries = await readdir(folder, { withFileTypes: true });
    const bins = entries.filter((entry) => entry.isFile() && entry.name.endsWith('.bin'));
    if (bins.length === 0) return;
    const list = await Promise.all(
      bins.map(async (entry) => release(entry.name.slice(0, -4), await readFile(join(folder, entry.name)))),
    );
    list.sort((a, b) => a.version.localeCompare(b.version, 'en', { numeric: true }));
    const latest = await readFile(join(folder, 'latest'), 'utf8').then(
      (text) => text.trim(),
      () => undefined,
    );
    if (latest !== undefined) {
      const index = list.findIndex((candidate) => candidate.version === latest);
      if (index === -1) {
        throw new ReferenceServerError(
          'REFERENCE_SERVER_CATALOGUE',
          `${join(folder, 'latest')} names ${latest}, but there is no ${latest}.bin beside it`,
        );
      }
      list.push(...list.splice(index, 1));
    }
    releases.set(id, list);
  };
  try {
    await readFolder(directory, DEFAULT_FIRMWARE_ID);
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      if (entry.isDirectory()) await readFolder(join(directory, entry.name), entry.name);
    }
  } catch (error) {
    if (error instanceof ReferenceServerError) throw error;
    throw new ReferenceServerError(
      'REFERENCE_SERVER_CATALOGUE',
      `cannot read the firmware folder ${directory}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (releases.size === 0) {
    throw new ReferenceServerError('REFERENCE_SERVER_CATALOGUE', `no .bin release in ${directory}`);
  }
  return { releases };
}

/** Two small ESP32 app images per id, for the harness' self-check when no folder is given. */
export function demoCatalogue(ids: readonly string[]): Catalogue {
  const releases = new Map<string, Release[]>();
  ids.forEach((id, index) => {
    const older = id === DEFAULT_FIRMWARE_ID ? '1.0.0' : 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    const newer = id === DEFAULT_FIRMWARE_ID ? '1.1.0' : '6b455df4965c2242754a80896562e254ba0ee528';
    releases.set(id, [
      release(older, buildEsp32Image({ size: 32 * 1024, version: older.slice(0, 31), seed: 10 + index })),
      release(newer, buildEsp32Image({ size: 40 * 1024, version: newer.slice(0, 31), seed: 20 + index })),
    ]);
  });
  return { releases };
}

/** HTTPUpdate's demo: an ESP8266 and an ESP32 folder with the same two versions, each its chip's images. */
export function demoPlatformCatalogue(): Catalogue {
  const releases = new Map<string, Release[]>();
  releases.set('esp8266', [
    release('1.0.0', buildEsp8266Image({ size: 32 * 1024, seed: 30 })),
    release('1.1.0', buildEsp8266Image({ size: 36 * 1024, seed: 31 })),
  ]);
  releases.set('esp32', [
    release('1.0.0', buildEsp32Image({ size: 32 * 1024, version: '1.0.0', seed: 10 })),
    release('1.1.0', buildEsp32Image({ size: 40 * 1024, version: '1.1.0', seed: 20 })),
  ]);
  return { releases };
}
