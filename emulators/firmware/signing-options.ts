import { parseSigningScheme, type SigningScheme, testSigningKey } from '../../fixtures/signed-image/index.ts';
import type { DefectDescriptor, Esp32DeviceOptions, Esp8266DeviceOptions } from '../device/index.ts';
import type { SignatureDefect } from '../esp8266-updater/index.ts';

/**
 * The firmware option `signing` of a signing build: `{ "scheme": "esp8266-pkcs1" }` installs the
 * verifier the scheme's device has, trusting `publicKeyPem` or, when it is absent, the toolkit's
 * public test key for the scheme (fixtures/signed-image/test-keys.ts), so the default rig needs no
 * key files. The suites sign with the matching private key (suites/signed).
 */
export interface SigningOption {
  scheme: SigningScheme;
  publicKeyPem: string;
}

export class SigningOptionError extends Error {
  readonly code = 'bad-signing-option';
  override readonly name = 'SigningOptionError';
}

export function signingOption(
  options: Readonly<Record<string, unknown>> | undefined,
): SigningOption | undefined {
  const raw = options?.signing;
  if (raw === undefined) return undefined;
  if (raw === null || typeof raw !== 'object' || typeof (raw as { scheme?: unknown }).scheme !== 'string') {
    throw new SigningOptionError(
      'option "signing" must be { "scheme": "<scheme>", "publicKeyPem"?: "<PEM>" }',
    );
  }
  const { scheme: name, publicKeyPem } = raw as { scheme: string; publicKeyPem?: unknown };
  let scheme: SigningScheme;
  try {
    scheme = parseSigningScheme(name);
  } catch (error) {
    throw new SigningOptionError(`option "signing.scheme": ${(error as Error).message}`);
  }
  if (publicKeyPem !== undefined && typeof publicKeyPem !== 'string') {
    throw new SigningOptionError('option "signing.publicKeyPem" must be a PEM string');
  }
  return { scheme, publicKeyPem: publicKeyPem ?? testSigningKey(scheme).publicKeyPem };
}

/** The ESP8266 device options of a signing build (the Updater's verifier), or none. */
export function esp8266SigningDeviceOptions(
  options: Readonly<Record<string, unknown>> | undefined,
): Esp8266DeviceOptions {
  const signing = signingOption(options);
  if (signing === undefined) return {};
  if (!signing.scheme.startsWith('esp8266')) {
    throw new SigningOptionError(`option "signing.scheme" ${signing.scheme} is not an ESP8266 scheme`);
  }
  return {
    updater: {
      verifier: { publicKeyPem: signing.publicKeyPem, legacy: signing.scheme === 'esp8266-legacy' },
    },
  };
}

const SOURCE = 'reference/signed-images.md §1.5–1.6';

/**
 * The signature defects of every firmware that updates an ESP8266 through the core's Updater
 * (Esp8266Updater's `signatureDefect`). On a build without a verifier they change nothing; the
 * kill matrix catches them on the signing targets of the default rig.
 */
export const ESP8266_SIGNATURE_DEFECTS: readonly (DefectDescriptor & { updater: SignatureDefect })[] = [
  {
    name: 'skips-signature-check',
    updater: 'skips-check',
    breaks: [
      'signed/refuse/1',
      'signed/refuse/2',
      'signed/refuse/3',
      'signed/refuse/5',
      'signed/refuse/6',
      SOURCE,
    ],
    description: 'a signing build that never runs its verifier: unsigned and wrongly signed images install',
  },
  {
    name: 'ignores-signature-length',
    updater: 'ignores-length-field',
    breaks: ['signed/refuse/4', SOURCE],
    description: 'takes the signature from a fixed place instead of where the u32 length word says',
  },
  {
    name: 'hashes-signature-trailer',
    updater: 'hashes-trailer',
    breaks: ['signed/accept/1', SOURCE],
    description: 'hashes the signature and length word with the image, so no correctly signed image verifies',
  },
  {
    name: 'checks-md5-when-signed',
    updater: 'checks-md5',
    breaks: [
      'signed/md5/1',
      'reference/signed-images.md §1.6 (MD5 is neither accumulated nor checked under a verifier)',
    ],
    description: 'still checks the MD5 a client sent although a verifier is installed',
  },
];

/** The Updater's signature defect for the firmware's defect set, if one is on. */
export function esp8266SignatureDefect(defects: ReadonlySet<string>): { signatureDefect?: SignatureDefect } {
  const on = ESP8266_SIGNATURE_DEFECTS.find((defect) => defects.has(defect.name));
  return on ? { signatureDefect: on.updater } : {};
}

/** The ESP32 device options of a signed-apps ESP-IDF build (the trusted key), merged into `base`. */
export function esp32SigningDeviceOptions(
  options: Readonly<Record<string, unknown>> | undefined,
  base: Esp32DeviceOptions | undefined,
  defects: ReadonlySet<string>,
): Esp32DeviceOptions {
  const signing = signingOption(options);
  if (signing === undefined) return base ?? {};
  // UPDATE_SIGN builds verify in the Update library (esp32ArduinoSignature), not in esp_ota_ops.
  if (signing.scheme.startsWith('esp32-arduino')) return base ?? {};
  if (signing.scheme !== 'esp-idf-sbv2-rsa' && signing.scheme !== 'esp-idf-ecdsa') {
    throw new SigningOptionError(`option "signing.scheme" ${signing.scheme} is not an ESP32 scheme`);
  }
  const defect = ESP_IDF_SIGNATURE_DEFECTS.find((d) => defects.has(d.name))?.chip;
  return {
    ...base,
    chip: {
      ...base?.chip,
      signedApps: {
        scheme: signing.scheme,
        publicKeyPem: signing.publicKeyPem,
        ...(defect === undefined ? {} : { defect }),
      },
    },
  };
}

const SOURCE_IDF =
  'reference/signed-images.md §3.6 (esp_ota_end → verify_secure_boot_signature; ESP_ERR_OTA_VALIDATE_FAILED)';

/** The signature defects of an ESP-IDF signed-apps build (EspOtaOps' `signedApps.defect`). */
export const ESP_IDF_SIGNATURE_DEFECTS: readonly (DefectDescriptor & {
  chip: 'skips-check' | 'ignores-digest';
})[] = [
  {
    name: 'skips-app-signature-check',
    chip: 'skips-check',
    breaks: ['signed/refuse/1', 'signed/refuse/2', 'signed/refuse/3', 'signed/refuse/5', SOURCE_IDF],
    description: 'a signed-apps build whose esp_ota_end never verifies the signature: any app is installed',
  },
  {
    name: 'ignores-signed-digest',
    chip: 'ignores-digest',
    breaks: ['signed/refuse/6', SOURCE_IDF],
    description:
      "verifies the signature over the digest stored in the signature block and never compares that digest with the image's",
  },
];

const SOURCE_ARDUINO = 'reference/signed-images.md §2.1, §2.4 (arduino-esp32 UPDATE_SIGN, error 14)';

/** The signature defects of an arduino-esp32 UPDATE_SIGN build (Esp32Update's `signature.defect`). */
export const ESP32_ARDUINO_SIGNATURE_DEFECTS: readonly (DefectDescriptor & {
  update: 'skips-check' | 'whole-block';
})[] = [
  {
    name: 'update-sign-skipped-after-begin',
    update: 'skips-check',
    breaks: ['signed/refuse/1', 'signed/refuse/2', 'signed/refuse/3', 'signed/refuse/6', SOURCE_ARDUINO],
    description:
      'arduino-esp32 v3.3.7 (#12422): begin() resets the signature size, so unsigned images install',
  },
  {
    name: 'update-sign-verifies-whole-block',
    update: 'whole-block',
    breaks: ['signed/accept/1', SOURCE_ARDUINO],
    description:
      'the first Updater_Signing.cpp (#12427): verifies all 512 bytes as PKCS#1 v1.5, so correct PSS/ECDSA signatures are refused',
  },
];

/** Esp32Update's `signature` option for an UPDATE_SIGN build, or none. */
export function esp32ArduinoSignature(
  options: Readonly<Record<string, unknown>> | undefined,
  defects: ReadonlySet<string>,
): { signature?: { publicKeyPem: string; defect?: 'skips-check' | 'whole-block' } } {
  const signing = signingOption(options);
  if (signing === undefined || !signing.scheme.startsWith('esp32-arduino')) return {};
  const defect = ESP32_ARDUINO_SIGNATURE_DEFECTS.find((d) => defects.has(d.name))?.update;
  return { signature: { publicKeyPem: signing.publicKeyPem, ...(defect === undefined ? {} : { defect }) } };
}
