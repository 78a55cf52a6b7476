import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, constants as zlibConstants } from 'node:zlib';

/**
 * Bytes a derivation may change in an image and still be "derived from" it (issue 10): the app
 * descriptor's version (32) and secure_version (4), the chip id (2), the checksum (1) and the
 * appended SHA-256 (32), a flipped bit, a zeroed magic. A different build differs in thousands.
 */
const MAX_CHANGED_BYTES = 80;

export interface AuditedImage {
  file: string;
  size: number;
  /** Which allowed image it is, or comes from; undefined when it is neither. */
  from?: string;
  changedBytes?: number;
}

/**
 * Every image the device received (WriteRunRecorder's files), each matched against the images it
 * was allowed to get: equal to one, a prefix of one (a truncated refusal, an interrupted
 * download), or one with a few bytes rewritten (a derived version, a corrupted refusal). A gzip
 * stream is matched by what it inflates to.
 */
export function auditReceivedImages(folder: string, allowed: Record<string, Uint8Array>): AuditedImage[] {
  return readdirSync(folder)
    .filter((name) => name.endsWith('.bin'))
    .sort()
    .map((name) => {
      const raw = new Uint8Array(readFileSync(join(folder, name)));
      const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? inflatePrefix(raw) : raw;
      let best: AuditedImage = { file: name, size: raw.length };
      // An erased region written as 0xFF (the flasher's blank otadata) carries no image.
      if (raw.every((byte) => byte === 0xff)) return { ...best, from: 'erased (all 0xFF)', changedBytes: 0 };
      // Where the run was written: an image written in place (a serial flash at 0x0, eboot's copy
      // of a sketch, which skips the sectors that are already equal) matches from that offset.
      const address = Number.parseInt(name.split('-')[1] ?? '', 16);
      for (const [label, whole] of Object.entries(allowed)) {
        for (const offset of new Set([0, address])) {
          if (!(offset >= 0 && offset < whole.length)) continue;
          const source = whole.subarray(offset);
          // A run can end in flash that was already erased (0xFF) past the image.
          const length = trimErased(bytes, source.length);
          if (length > source.length) continue;
          let changed = 0;
          for (let j = 0; j < length && changed <= MAX_CHANGED_BYTES; j++)
            if (bytes[j] !== source[j]) changed++;
          if (
            changed <= MAX_CHANGED_BYTES &&
            (best.changedBytes === undefined || changed < best.changedBytes)
          ) {
            const from = offset === 0 ? label : `${label} from 0x${offset.toString(16)}`;
            best = { file: name, size: raw.length, from, changedBytes: changed };
          }
        }
      }
      return best;
    });
}

function trimErased(bytes: Uint8Array, limit: number): number {
  let end = bytes.length;
  while (end > limit && bytes[end - 1] === 0xff) end--;
  return end;
}

function inflatePrefix(bytes: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(gunzipSync(bytes, { finishFlush: zlibConstants.Z_SYNC_FLUSH }));
  } catch {
    return bytes;
  }
}
