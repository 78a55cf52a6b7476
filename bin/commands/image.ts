import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import {
  analysisToJson,
  analyzeImage,
  buildEsp32Image,
  buildEsp8266Image,
  formatImageAnalysis,
  gzipImage,
  type Platform,
  resolveChipId,
  signImage,
  type ValidateOptions,
} from '../../fixtures/index.ts';

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
  minSecureVersion?: number;
  chipRevision?: number;
  platform?: Platform;
}

interface BuildFlags {
  out: string;
  size?: number;
  version?: string;
  chip?: string;
  secureVersion?: number;
  project?: string;
  sign?: string;
  legacySign?: boolean;
  gzip?: boolean;
  platform: Platform;
  seed?: number;
}

/** `image inspect` and `image build`. */
export function registerImageCommand(program: Command): void {
  const image = program
    .command('image')
    .description('Build, inspect and validate ESP32/ESP8266 firmware images');

  image
    .command('inspect <file>')
    .description('Print header, segments, app descriptor, checksum/SHA/signature verdicts and findings')
    .option('--json', 'print the analysis as JSON')
    .option('--chip <name>', 'expected chip (esp32, esp32c3, ...)')
    .option('--partition-size <n>', 'OTA partition size in bytes', parseInteger)
    .option('--pubkey <pem>', 'verify as a signed image (bin + signature + u32 length) with this public key')
    .option('--legacy', 'the signature is the legacy raw-digest form')
    .option('--min-secure-version <n>', "the device's anti-rollback secure version", parseInteger)
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
        ...(flags.pubkey !== undefined && { publicKey: Buffer.from(await readInput(flags.pubkey)) }),
        ...(flags.legacy && { legacySignature: true }),
      };
      const analysis = analyzeImage(bytes, options);
      process.stdout.write(flags.json ? `${analysisToJson(analysis)}\n` : formatImageAnalysis(analysis));
      process.exitCode = analysis.findings.length > 0 ? 1 : 0;
    });

  image
    .command('build')
    .description('Write a valid (optionally gzipped and signed) test image')
    .requiredOption('--out <file>', 'where to write the image')
    .option('--size <n>', 'total length in bytes before gzip/signing', parseInteger)
    .option('--version <v>', 'app version string (ESP32)')
    .option('--chip <name>', 'chip the image is for (ESP32 family)')
    .option('--secure-version <n>', 'anti-rollback secure_version (ESP32)', parseInteger)
    .option('--project <name>', 'project name (ESP32)')
    .option('--sign <private.pem>', 'append an RSA signature and its length')
    .option('--legacy-sign', 'sign the raw digest (cores 2.5.x) instead of RSASSA-PKCS1-v1_5')
    .option('--gzip', 'gzip the image (before signing, as the Arduino tools do)')
    .option('--platform <platform>', 'esp32 or esp8266', parsePlatform, 'esp32')
    .option('--seed <n>', 'seed of the filler bytes', parseInteger)
    .action(async (flags: BuildFlags) => {
      let bytes =
        flags.platform === 'esp32'
          ? buildEsp32Image({
              ...(flags.size !== undefined && { size: flags.size }),
              ...(flags.version !== undefined && { version: flags.version }),
              ...(flags.chip !== undefined && { chip: flags.chip }),
              ...(flags.secureVersion !== undefined && { secureVersion: flags.secureVersion }),
              ...(flags.project !== undefined && { projectName: flags.project }),
              ...(flags.seed !== undefined && { seed: flags.seed }),
            })
          : buildEsp8266Image({
              ...(flags.size !== undefined && { size: flags.size }),
              ...(flags.seed !== undefined && { seed: flags.seed }),
            });
      if (flags.gzip) bytes = gzipImage(bytes);
      if (flags.sign !== undefined) {
        const key = Buffer.from(await readInput(flags.sign));
        bytes = signImage(bytes, key, { legacy: flags.legacySign ?? false });
      }
      await writeFile(flags.out, bytes);
      process.stdout.write(`wrote ${bytes.length} bytes to ${flags.out}\n`);
    });
}
