import {
  buildDateTimeFromEpoch,
  buildEsp32Image,
  buildEsp8266Image,
  buildEsp8266Sketch,
  checkBuildDate,
  checkBuildTime,
  gzipImage,
  ImageBuildError,
  type SigningScheme,
  signWithScheme,
} from '../../fixtures/index.ts';
import type { Platform } from '../../vocabulary/index.ts';

export interface BuildFlags {
  out: string;
  platform: Platform;
  size?: number;
  version?: string;
  project?: string;
  buildDate?: string;
  buildTime?: string;
  buildEpoch?: number;
  chip?: string;
  secureVersion?: number;
  appOnly?: boolean;
  gzip?: boolean;
  sign?: string;
  scheme?: SigningScheme;
  legacySign?: boolean;
  seed?: number;
}

/** elf2bin.py's sketch: eboot in the first 4 KiB, the app after it. */
const SKETCH_APP_OFFSET = 0x1000;

/** Options that only mean something on one platform, so naming them on the other is an error. */
const ONLY_ON: Record<string, { platform: Platform; flag: string }> = {
  chip: { platform: 'esp32', flag: '--chip' },
  secureVersion: { platform: 'esp32', flag: '--secure-version' },
  appOnly: { platform: 'esp8266', flag: '--app-only' },
  gzip: { platform: 'esp8266', flag: '--gzip' },
  legacySign: { platform: 'esp8266', flag: '--legacy-sign' },
};

function refuse(message: string): never {
  throw new ImageBuildError(message);
}

function buildDateTime(flags: BuildFlags): { date: string; time: string } | undefined {
  if (flags.buildEpoch !== undefined) {
    if (flags.buildDate !== undefined || flags.buildTime !== undefined) {
      refuse('--build-epoch gives both date and time; do not combine it with --build-date or --build-time');
    }
    return buildDateTimeFromEpoch(flags.buildEpoch);
  }
  if (flags.buildDate === undefined && flags.buildTime === undefined) return undefined;
  return {
    date: checkBuildDate(flags.buildDate ?? 'Jan  1 2026'),
    time: checkBuildTime(flags.buildTime ?? '12:00:00'),
  };
}

function schemeFor(flags: BuildFlags): SigningScheme {
  const scheme = flags.scheme ?? (flags.legacySign ? 'esp8266-legacy' : undefined);
  if (flags.legacySign && flags.scheme !== undefined && flags.scheme !== 'esp8266-legacy') {
    refuse(`--legacy-sign contradicts --scheme ${flags.scheme}`);
  }
  if (scheme === undefined) {
    if (flags.platform === 'esp8266') return 'esp8266-pkcs1';
    refuse(
      '--sign on esp32 needs --scheme esp32-arduino-pss, esp32-arduino-ecdsa, esp-idf-sbv2-rsa or esp-idf-ecdsa',
    );
  }
  if (scheme.startsWith('esp8266') !== (flags.platform === 'esp8266')) {
    refuse(`--scheme ${scheme} does not sign ${flags.platform} images`);
  }
  return scheme;
}

/**
 * `image build`: an ESP32 app, or on ESP8266 the whole sketch file a board boots (eboot at 0x0,
 * the app at 0x1000) unless `--app-only`. Every option that does not apply to the platform is
 * refused instead of silently ignored.
 */
export function buildImageFromFlags(flags: BuildFlags, signingKey?: Uint8Array): Uint8Array {
  for (const [option, only] of Object.entries(ONLY_ON)) {
    const value = flags[option as keyof BuildFlags];
    if (value !== undefined && value !== false && only.platform !== flags.platform) {
      refuse(`${only.flag} applies to ${only.platform} images only, not ${flags.platform}`);
    }
  }
  if (flags.scheme !== undefined && flags.sign === undefined) refuse('--scheme needs --sign <private.pem>');
  if (flags.legacySign && flags.sign === undefined) refuse('--legacy-sign needs --sign <private.pem>');
  const given = buildDateTime(flags);
  // Like a compiler's __DATE__/__TIME__, a build without --build-* is stamped with the time it ran,
  // so two builds differ where a device reports its build (buttonsMeshIDF's success signal);
  // --build-epoch makes a build reproducible.
  const when = given ?? buildDateTimeFromEpoch(Math.floor(Date.now() / 1000));
  let bytes: Uint8Array;
  if (flags.platform === 'esp32') {
    bytes = buildEsp32Image({
      ...(flags.size !== undefined && { size: flags.size }),
      ...(flags.version !== undefined && { version: flags.version }),
      ...(flags.chip !== undefined && { chip: flags.chip }),
      ...(flags.secureVersion !== undefined && { secureVersion: flags.secureVersion }),
      ...(flags.project !== undefined && { projectName: flags.project }),
      ...(when && { date: when.date, time: when.time }),
      ...(flags.seed !== undefined && { seed: flags.seed }),
    });
  } else if (flags.appOnly) {
    // The bare app has nowhere to carry a version, project or build time (the sketch descriptor
    // sits in the sketch file's app); refusing beats writing an image that silently lacks them.
    for (const [value, flag] of [
      [flags.version, '--version'],
      [flags.project, '--project'],
      [given, '--build-date/--build-time/--build-epoch'],
    ] as const) {
      if (value !== undefined)
        refuse(`${flag} is written into the sketch file; it cannot go with --app-only`);
    }
    bytes = buildEsp8266Image({
      ...(flags.size !== undefined && { size: flags.size }),
      ...(flags.seed !== undefined && { seed: flags.seed }),
    });
  } else {
    if (flags.size !== undefined && flags.size <= SKETCH_APP_OFFSET) {
      refuse(`an ESP8266 sketch file is eboot (4 KiB) plus the app; --size ${flags.size} leaves no app`);
    }
    bytes = buildEsp8266Sketch({
      version: flags.version ?? '1.0.0',
      ...(flags.project !== undefined && { projectName: flags.project }),
      ...(flags.size !== undefined && { appSize: flags.size - SKETCH_APP_OFFSET }),
      ...(flags.seed !== undefined && { seed: flags.seed }),
      ...(when && { date: when.date, time: when.time }),
    });
  }
  if (flags.gzip) bytes = gzipImage(bytes);
  if (flags.sign !== undefined)
    bytes = signWithScheme(bytes, schemeFor(flags), signingKey ?? new Uint8Array());
  return bytes;
}
