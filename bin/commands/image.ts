import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import {
  analysisToJson,
  analyzeImage,
  formatImageAnalysis,
  generateSigningKey,
  loadPublicKey,
  parseSigningScheme,
  resolveChipId,
  type SigningScheme,
  signWithScheme,
  type ValidateOptions,
} from '../../fixtures/index.ts';
import type { Platform } from '../../vocabulary/index.ts';
import { type BuildFlags, buildImageFromFlags } from './image-build.ts';

/** Thrown when a file named on the command line cannot be read. */
export class ImageFileError extends Error {
  readonly code = 'image-file-unreadable';
  constructor(path: string, cause: unknown) {
    super(`cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ImageFileError';
  }
}

function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  return n;
}

/** A u32 field (secure_version, …): 4294967296 does not wrap to 0, it is refused. */
function parseUint32(value: string): number {
  const n = parseInteger(value);
  if (n > 0xffff_ffff)
    throw new InvalidArgumentError(`"${value}" does not fit a 32-bit field (at most 4294967295)`);
  return n;
}

function parseScheme(value: string): SigningScheme {
  try {
    return parseSigningScheme(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function parsePlatform(value: string): Platform {
  if (value !== 'esp32' && value !== 'esp8266') throw new InvalidArgumentError('must be esp32 or esp8266');
  return value;
}

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new ImageFileError(path, error);
  }
}

interface InspectFlags {
  json?: boolean;
  chip?: string;
  partitionSize?: number;
  pubkey?: string;
  legacy?: boolean;
  scheme?: SigningScheme;
  minSecureVersion?: number;
  chipRevision?: number;
  platform?: Platform;
}

function registerInspect(image: Command): void {
  image
    .command('inspect <file>')
    .description('Print header, segments, app descriptor, checksum/SHA/signature verdicts and findings')
    .option('--json', 'print the analysis as JSON')
    .option('--chip <name>', 'expected chip (esp32, esp32c3, ...)')
    .option('--partition-size <n>', 'OTA partition size in bytes', parseInteger)
    .option('--pubkey <pem>', 'verify the signature with this PEM public key (default scheme: esp8266-pkcs1)')
    .option('--legacy', 'the signature is the legacy raw-digest form (same as --scheme esp8266-legacy)')
    .option('--scheme <scheme>', 'verify --pubkey in this signing scheme (see `image sign`)', parseScheme)
    .option('--min-secure-version <n>', "the device's anti-rollback secure version", parseUint32)
    .option('--chip-revision <n>', "the device's revision as major*100+minor", parseInteger)
    .option('--platform <platform>', 'esp32 or esp8266 (default: detect)', parsePlatform)
    .action(async (file: string, flags: InspectFlags) => {
      const bytes = await readInput(file);
      const options: ValidateOptions = {
        ...(flags.platform && { platform: flags.platform }),
        ...(flags.chip !== undefined && { expectedChipId: resolveChipId(flags.chip) }),
        ...(flags.partitionSize !== undefined && { partitionSize: flags.partitionSize }),
        ...(flags.minSecureVersion !== undefined && { minSecureVersion: flags.minSecureVersion }),
        ...(flags.chipRevision !== undefined && { chipRevision: flags.chipRevision }),
        ...(flags.pubkey !== undefined && {
          publicKey: loadPublicKey(await readInput(flags.pubkey), flags.pubkey),
        }),
        ...(flags.legacy && { legacySignature: true }),
        ...(flags.scheme !== undefined && { signingScheme: flags.scheme }),
      };
      const analysis = analyzeImage(bytes, options);
      process.stdout.write(flags.json ? `${analysisToJson(analysis)}\n` : formatImageAnalysis(analysis));
      process.exitCode = analysis.findings.length > 0 ? 1 : 0;
    });
}

interface SignFlags {
  scheme: SigningScheme;
  key: string;
  out: string;
}

interface KeygenFlags {
  scheme: SigningScheme;
  out: string;
  publicOut?: string;
}

/** `image inspect`, `image build`, `image sign` and `image keygen`. */
export function registerImageCommand(program: Command): void {
  const image = program
    .command('image')
    .description('Build, sign, inspect and validate ESP32/ESP8266 firmware images');
  registerInspect(image);

  image
    .command('build')
    .description('Write a valid test image: an ESP32 app, or an ESP8266 sketch file (eboot + app at 0x1000)')
    .requiredOption('--out <file>', 'where to write the image')
    .option('--platform <platform>', 'esp32 or esp8266', parsePlatform, 'esp32')
    .option(
      '--size <n>',
      'bytes of the app image (ESP8266 sketch: of the whole file) before gzip/signing',
      parseInteger,
    )
    .option('--version <v>', 'app version (ESP32 descriptor, ESP8266 sketch descriptor), at most 31 bytes')
    .option('--project <name>', 'project name, at most 31 bytes of UTF-8')
    .option('--build-date <date>', 'the build\'s __DATE__, e.g. "Feb  7 2026"')
    .option('--build-time <time>', 'the build\'s __TIME__, e.g. "12:34:56"')
    .option('--build-epoch <seconds>', "the build's date and time as unix seconds (UTC)", parseInteger)
    .option('--chip <name>', `ESP32 only: ${'esp32, esp32s2, esp32s3, esp32c3, esp32c6'}`)
    .option('--secure-version <n>', 'ESP32 only: anti-rollback secure_version (u32)', parseUint32)
    .option('--app-only', 'ESP8266 only: the bare app image (what OTA sends), not the sketch file')
    .option('--gzip', 'ESP8266 only: gzip the image (before signing, as the Arduino tools do)')
    .option('--sign <private.pem>', 'sign the image (see `image sign`)')
    .option('--scheme <scheme>', 'signing scheme for --sign (default esp8266-pkcs1 on esp8266)', parseScheme)
    .option('--legacy-sign', 'ESP8266: same as --scheme esp8266-legacy')
    .option('--seed <n>', 'seed of the filler bytes', parseInteger)
    .action(async (flags: BuildFlags) => {
      const key = flags.sign === undefined ? undefined : await readInput(flags.sign);
      const bytes = buildImageFromFlags(flags, key);
      await writeFile(flags.out, bytes);
      process.stdout.write(`wrote ${bytes.length} bytes to ${flags.out}\n`);
    });

  image
    .command('sign <file>')
    .description(
      'Sign an image as a device verifies it: esp8266-pkcs1 (core ≥2.6 signing.py), esp8266-legacy (2.5.x), esp32-arduino-pss / esp32-arduino-ecdsa (UPDATE_SIGN bin_signing.py), esp-idf-sbv2-rsa / esp-idf-ecdsa (espsecure sign-data --version 2)',
    )
    .requiredOption('--scheme <scheme>', 'the signing scheme', parseScheme)
    .requiredOption('--key <private.pem>', 'PEM private key (e.g. from `image keygen`)')
    .requiredOption('--out <file>', 'where to write the signed image')
    .action(async (file: string, flags: SignFlags) => {
      const input = await readInput(file);
      const key = await readInput(flags.key);
      const signed = signWithScheme(input, flags.scheme, key);
      await writeFile(flags.out, signed);
      process.stdout.write(
        `signed ${input.length} bytes (${flags.scheme}); wrote ${signed.length} bytes to ${flags.out}\n`,
      );
    });

  image
    .command('keygen')
    .description(
      'Generate a test key pair for a signing scheme with node:crypto (RSA-2048, RSA-3072 for SBv2, or P-256)',
    )
    .requiredOption('--scheme <scheme>', 'the signing scheme the key is for', parseScheme)
    .requiredOption('--out <private.pem>', 'where to write the private key')
    .option('--public-out <public.pem>', 'where to write the public key (default: <out>.pub.pem)')
    .action(async (flags: KeygenFlags) => {
      const pair = generateSigningKey(flags.scheme);
      const publicOut = flags.publicOut ?? `${flags.out.replace(/\.pem$/, '')}.pub.pem`;
      await writeFile(flags.out, pair.privateKeyPem, { mode: 0o600 });
      await writeFile(publicOut, pair.publicKeyPem);
      process.stdout.write(`wrote the private key to ${flags.out} and the public key to ${publicOut}\n`);
    });
}
