import { createHash } from 'node:crypto';
// firmware-source.ts, not the flasher's index: that one loads esptool-js, which every suite
// worker would then load for nothing.
import { type FirmwareBuild, firmwareFor } from '../../../drivers/flasher/firmware-source.ts';
import type { Target } from '../../../drivers/target/index.ts';
import {
  APP_DESC_IMAGE_OFFSET,
  APP_DESC_OFFSETS,
  decodeAppDescriptor,
  lowerSecureVersion,
  reseal,
} from '../../../fixtures/index.ts';
import { bootVersionPatterns } from './boot-lines.ts';

/**
 * A requirement needs an image the rig cannot give this board (an ESP8266 boots only the
 * vendor's own builds): the requirement is skipped with this reason, never run with a synthetic
 * image that a real chip could not boot.
 */
export class ImageUnavailableError extends Error {
  readonly code = 'IMAGE_UNAVAILABLE';
  override readonly name = 'ImageUnavailableError';
}

export interface RigImages {
  baseline: FirmwareBuild;
  update: FirmwareBuild;
}

export interface IssuedImage {
  target: string;
  version: string;
  sha256: string;
  size: number;
  /** `rig:baseline`, `rig:update`, or `derived:<version> from rig:update`. */
  origin: string;
}

const loaded = new Map<string, RigImages>();
const issued: IssuedImage[] = [];

/** The vendor builds the rig names for this target, or undefined (emulators: synthetic images). */
export function rigImages(target: Target): RigImages | undefined {
  const description = target.description;
  if (description.firmware === undefined) return undefined;
  let images = loaded.get(description.name);
  if (images === undefined) {
    images = { baseline: firmwareFor(description, 'baseline'), update: firmwareFor(description, 'update') };
    loaded.set(description.name, images);
  }
  return images;
}

/** Every bootable image handed out for a rig-firmware target in this worker, in order. */
export function issuedImages(): readonly IssuedImage[] {
  return issued;
}

/**
 * The bootable image that reports `version` on a board with the vendor's builds (issue 10):
 * the rig's baseline or update when the version is theirs; on ESP32 any other version is the
 * update with its app descriptor's version (and, if asked, secure_version) rewritten and the
 * checksum and SHA-256 recomputed, the code untouched; on ESP8266 only the rig's own builds boot,
 * so another version is an ImageUnavailableError. Undefined for an emulator without rig firmware
 * (its images are synthetic); a board without it is an ImageUnavailableError.
 */
export function rigBootableImage(
  target: Target,
  version: string,
  options: { secureVersion?: number } = {},
): Uint8Array | undefined {
  const images = rigImages(target);
  if (images === undefined) {
    // DESIGN.md, what a board may be sent: synthetic images are for emulators. A real board
    // would boot garbage (an ESP8266 then needs a serial reflash), so without the vendor's
    // builds the requirement is skipped with this reason instead.
    const kind = target.description.kind;
    if (kind === 'emulator' || kind === 'emulator-process') return undefined;
    throw new ImageUnavailableError(
      `target ${target.name}: a ${kind} is only sent images it can boot, and the rig names no firmware builds for it (firmware.baseline / firmware.update)`,
    );
  }
  const own = (build: FirmwareBuild, role: 'baseline' | 'update') =>
    build.version === version &&
    (options.secureVersion === undefined ||
      target.platform !== 'esp32' ||
      build.secureVersion === options.secureVersion)
      ? record(target, version, build.app, `rig:${role}`)
      : undefined;
  const mine = own(images.update, 'update') ?? own(images.baseline, 'baseline');
  if (mine) return mine;
  const only = onlyOwnBuilds(target);
  if (only !== undefined) {
    throw new ImageUnavailableError(
      `target ${target.name}: ${only} (baseline ${images.baseline.version ?? '?'}, update ${images.update.version ?? '?'}); this requirement needs version ${version}`,
    );
  }
  return record(
    target,
    version,
    deriveEsp32Version(images.update.app, version, options.secureVersion),
    `derived:${version} from rig:update`,
  );
}

/**
 * Why only the rig's own builds can stand for a version on this target, or undefined where a
 * derived image can. An ESP8266 has no app descriptor to rewrite. Lua RTOS names its build by the
 * commit compiled into its code (the boot banner's `commit %s` of BUILD_COMMIT, and the `commit=`
 * of every check; Lua-RTOS-ESP32 6b455df4 `components/sys/sys/sys_init.c` 217–220, net.c 470)
 * and logs below the level of ESP-IDF's `App version:`, so a rewritten descriptor boots looking
 * like the build it came from.
 */
function onlyOwnBuilds(target: Target): string | undefined {
  if (target.platform === 'esp8266') return "an ESP8266 boots only the rig's own builds";
  if (target.profile === 'luartos')
    return "Lua RTOS tells its builds apart by the commit in their code, so only the rig's own builds carry a version it reports";
  return undefined;
}

/** The rig's baseline or update version, for requirements that alternate between the two. */
export function rigVersions(target: Target): { baseline?: string; update?: string } | undefined {
  const images = rigImages(target);
  return images && { baseline: images.baseline.version, update: images.update.version };
}

/** The update image with another version in its app descriptor, resealed (checksum, SHA-256). */
export function deriveEsp32Version(app: Uint8Array, version: string, secureVersion?: number): Uint8Array {
  const encoded = new TextEncoder().encode(version);
  if (encoded.length > 31)
    throw new RangeError(`version "${version}" is longer than the descriptor's 31 bytes`);
  let copy: Uint8Array = app.slice();
  const field = APP_DESC_IMAGE_OFFSET + APP_DESC_OFFSETS.version;
  copy.fill(0, field, field + 32);
  copy.set(encoded, field);
  if (secureVersion !== undefined && decodeAppDescriptor(copy).secureVersion !== secureVersion)
    copy = lowerSecureVersion(copy, secureVersion, { reseal: false });
  return reseal(copy);
}

function record(target: Target, version: string, bytes: Uint8Array, origin: string): Uint8Array {
  issued.push({
    target: target.name,
    version,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    origin,
  });
  return bytes;
}

/**
 * For a board that boots only the rig's own builds (ESP8266, Lua RTOS), the version a requirement should
 * install next: the rig's baseline or update, whichever the board is not running, read from the
 * last boot line its console printed (the board runs the baseline after `flash` when none is
 * seen yet). Undefined for every other target: they take fresh versions.
 */
export function otherRigVersion(target: Target): string | undefined {
  if (onlyOwnBuilds(target) === undefined) return undefined;
  const images = rigImages(target);
  if (images === undefined) return undefined;
  const patterns = bootVersionPatterns(target);
  const lines = target.console?.lines() ?? [];
  let running: string | undefined;
  for (let i = lines.length - 1; i >= 0 && running === undefined; i--) {
    for (const pattern of patterns) {
      const version = pattern.exec(lines[i]!.text)?.groups?.version;
      if (version !== undefined) {
        running = version;
        break;
      }
    }
  }
  return running === images.update.version ? images.baseline.version : images.update.version;
}

/**
 * A refusal "not an image" for this target: on a board with the vendor's builds, the rig's image
 * it is not running with its magic byte replaced by `firstByte` (derived from a real image, issue
 * 10); elsewhere, what `synthetic` makes (the requirement's own text or random bytes).
 */
export function notAnImage(target: Target, firstByte: number, synthetic: () => Uint8Array): Uint8Array {
  const images = rigImages(target);
  if (images === undefined) return synthetic();
  const version = otherRigVersion(target) ?? images.update.version;
  const source = version === images.baseline.version ? images.baseline.app : images.update.app;
  const bytes = source.slice();
  bytes[0] = firstByte;
  return bytes;
}
