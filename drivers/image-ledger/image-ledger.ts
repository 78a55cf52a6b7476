import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

/** One image the harness sent to a target (or served it), by content. */
export interface ImageSent {
  sha256: string;
  bytes: number;
  /** The driver call that sent it (`viperhttp push`, `web-update upload`, `update server`…). */
  via: string;
  /** The version an ESP32 app image declares in its app descriptor (esp_app_desc_t.version). */
  version?: string;
}

/**
 * The images sent since the last take. A worker runs several targets at once: each target's
 * requirements record into that target's own ledger (`recordImagesInto`, an async context), the
 * requirement wrapper takes them after each requirement, and the run's metadata lists them by
 * SHA-256 per target. Code outside any ledger's context records into this worker's (when enabled).
 */
const sent: ImageSent[] = [];
let enabled = false;
const current = new AsyncLocalStorage<ImageSent[]>();

/** Runs `body` (and all it awaits or schedules) with the images it sends recorded into `ledger`. */
export function recordImagesInto<T>(ledger: ImageSent[], body: () => T): T {
  return current.run(ledger, body);
}

/**
 * Turns the ledger on in this worker (the conformance run does; benchmarks and the project's own
 * tests leave it off, so their send path pays nothing).
 */
export function enableImageLedger(): void {
  enabled = true;
}

/** Records an image a driver is about to send (or serve), whole. Costs one SHA-256 pass. */
export function noteImageSent(image: Uint8Array, via: string): void {
  const ledger = current.getStore() ?? (enabled ? sent : undefined);
  if (ledger === undefined) return;
  const version = appDescriptorVersion(image);
  ledger.push({
    sha256: createHash('sha256').update(image).digest('hex'),
    bytes: image.byteLength,
    via,
    ...(version ? { version } : {}),
  });
}

/** The images noted since the last call, distinct by SHA-256 and how they went. */
export function takeImagesSent(ledger: ImageSent[] = sent): ImageSent[] {
  const taken = ledger.splice(0);
  const seen = new Set<string>();
  return taken.filter((image) => {
    const key = `${image.sha256} ${image.via}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const APP_DESC_MAGIC = 0xabcd5432;

/**
 * The version string of an ESP32 app image: the app descriptor sits at image offset 0x20 with
 * magic 0xABCD5432 and `version[32]` at 0x30 (esp_app_desc.h L21-46, docs/protocols/esp-idf.md §1.6).
 */
function appDescriptorVersion(image: Uint8Array): string | undefined {
  if (image.byteLength < 0x50 || image[0] !== 0xe9) return undefined;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (view.getUint32(0x20, true) !== APP_DESC_MAGIC) return undefined;
  const field = image.subarray(0x30, 0x50);
  const end = field.indexOf(0);
  const version = Buffer.from(field.subarray(0, end === -1 ? field.length : end)).toString('utf8');
  return /^[\x20-\x7e]+$/.test(version) ? version : undefined;
}
