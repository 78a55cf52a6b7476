import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { Target, TargetDescription } from '../../drivers/target/index.ts';
import {
  align4096,
  generateSigningKeyInBackground,
  parseSigningScheme,
  type SigningScheme,
  signWithScheme,
  testSigningKey,
} from '../../fixtures/signed-image/index.ts';
import { RigFailure } from '../framework/index.ts';

/**
 * What a signing target's rig entry says about its signing build, in its `options` (for an
 * emulator, `emulator.options`): `"signing": { "scheme": "esp8266-pkcs1" }` signs with the
 * toolkit's public test key for the scheme (what the emulators trust by default), and
 * `"privateKeyFile": "/path/key.pem"` with the key a real device's build trusts.
 */
export interface TargetSigning {
  scheme: SigningScheme;
  privateKeyPem: string;
  /** Another key of the same kind (made once per worker): what an attacker or a wrong build signs with. */
  otherKeyPem: () => Promise<string>;
}

const others = new Map<SigningScheme, Promise<string>>();

export function signingOf(description: TargetDescription | undefined): SigningScheme | undefined {
  const raw = description?.options?.signing as { scheme?: unknown } | undefined;
  return typeof raw?.scheme === 'string' ? parseSigningScheme(raw.scheme) : undefined;
}

export function targetSigning(target: Target): TargetSigning {
  const raw = target.description.options?.signing as
    | { scheme?: unknown; privateKeyFile?: unknown }
    | undefined;
  if (raw === undefined || typeof raw.scheme !== 'string') {
    throw new RigFailure(
      `target ${target.name} claims signed-images but its options give no "signing": { "scheme": … }`,
    );
  }
  const scheme = parseSigningScheme(raw.scheme);
  let privateKeyPem: string;
  if (typeof raw.privateKeyFile === 'string') {
    try {
      privateKeyPem = readFileSync(raw.privateKeyFile, 'latin1');
    } catch (error) {
      throw new RigFailure(
        `target ${target.name}: cannot read signing.privateKeyFile: ${(error as Error).message}`,
      );
    }
  } else {
    privateKeyPem = testSigningKey(scheme).privateKeyPem;
  }
  const otherKeyPem = () => {
    let key = others.get(scheme);
    if (key === undefined) {
      key = generateSigningKeyInBackground(scheme).then((pair) => pair.privateKeyPem);
      others.set(scheme, key);
    }
    return key;
  };
  return { scheme, privateKeyPem, otherKeyPem };
}

export function sign(signing: TargetSigning, image: Uint8Array, key = signing.privateKeyPem): Uint8Array {
  return signWithScheme(image, signing.scheme, key);
}

/**
 * The refusal each scheme's own code reports (reference/signed-images.md §7): ESP8266 Updater
 * error 12 `Signature verification failed`; arduino-esp32 error 14 `Signature Verification
 * Failed`; ESP-IDF `esp_image: Secure boot signature verification failed` / `image valid,
 * signature bad` / ESP_ERR_OTA_VALIDATE_FAILED.
 */
export function refusalPattern(scheme: SigningScheme): RegExp {
  if (scheme.startsWith('esp8266')) return /Signature verification failed/;
  if (scheme.startsWith('esp32-arduino')) return /Signature Verification Failed/;
  return /Secure boot signature verification failed|signature bad|ESP_ERR_OTA_VALIDATE_FAILED|0x1503/;
}

/** Where in a signed file the signature bytes start. */
export function signatureOffset(scheme: SigningScheme, imageLength: number): number {
  if (scheme === 'esp-idf-sbv2-rsa') return align4096(imageLength) + 812;
  if (scheme === 'esp-idf-ecdsa') return align4096(imageLength) + 101;
  return imageLength;
}

/** A copy of `signed` with one signature byte flipped (an SBv2 block's CRC recomputed, so only the signature is wrong). */
export function flipSignatureByte(
  scheme: SigningScheme,
  signed: Uint8Array,
  imageLength: number,
): Uint8Array {
  const copy = signed.slice();
  const at = signatureOffset(scheme, imageLength) + 10;
  copy[at] = copy[at]! ^ 0x01;
  if (scheme.startsWith('esp-idf')) {
    const block = align4096(imageLength);
    new DataView(copy.buffer).setUint32(block + 1196, crc32(copy.subarray(block, block + 1196)) >>> 0, true);
  }
  return copy;
}
