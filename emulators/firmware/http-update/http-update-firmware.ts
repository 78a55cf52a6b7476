import type { FirmwareContext, FirmwareModule, RunningFirmware } from '../../device/index.ts';
import { EBOOT_CLEARS_COMMAND_EARLY, WRITES_SKETCH_IN_PLACE } from '../esp8266-staging-defect.ts';
import { type FollowRedirects, HttpUpdateClient, type HttpUpdateSettings } from './http-update-client.ts';
import { HttpUpdateResult, lastErrorString } from './http-update-errors.ts';
import { type PullPlatform, pullPlatformFor } from './pull-platform.ts';
import type { DeviceIdentity } from './update-request.ts';

export interface HttpUpdateOptions {
  /** Where the sketch asks for its update (`ESPhttpUpdate.update(client, url, currentVersion)`). */
  updateUrl: string;
  checkOnBoot: boolean;
  /** 0 = never. */
  checkIntervalMs: number;
  rebootOnUpdate: boolean;
  /** `sketch` (update()) or `spiffs` (updateFS()). */
  target: 'sketch' | 'spiffs';
  followRedirects: FollowRedirects;
  clientTimeoutMs: number;
  /** HTTPS trust: a CA certificate (PEM), a SHA-1 fingerprint, or setInsecure(). */
  ca: string;
  fingerprint: string;
  insecure: boolean;
  /** `user:pass` for setAuthorization(); the URL's userinfo works too. */
  credentials: string;
  staMac: string;
  apMac: string;
  /** ESP8266 ESP.getChipId(); by default the low three bytes of the STA MAC. */
  chipId: number | undefined;
  sdkVersion: string;
  streamTimeoutMs: number;
  streamTimeoutReads: number;
  streamReadTimeoutMs: number;
}

const ESP8266_DEFAULTS = { staMac: '5C:CF:7F:A1:B2:C3', sdkVersion: '2.2.2-dev(38a443e)' };
const ESP32_DEFAULTS = { staMac: '24:0A:C4:A1:B2:C3', sdkVersion: 'v4.4.7' };

const DEFAULT_OPTIONS = {
  updateUrl: '',
  checkOnBoot: true,
  checkIntervalMs: 0,
  rebootOnUpdate: true,
  target: 'sketch',
  followRedirects: 'disable',
  clientTimeoutMs: 8000,
  insecure: false,
  streamTimeoutMs: 60_000,
  streamTimeoutReads: 300,
  streamReadTimeoutMs: 1000,
} as const;

function macBytes(mac: string): number[] {
  return mac.split(/[:-]/).map((part) => Number.parseInt(part, 16) & 0xff);
}

function formatMac(bytes: readonly number[]): string {
  return bytes.map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(':');
}

/** The softAP MAC each SDK derives from the station MAC (ESP8266: bit 1 of byte 0; ESP32: base + 1). */
function derivedApMac(context: FirmwareContext, staMac: string): string {
  const bytes = macBytes(staMac);
  if (context.platform === 'esp8266') bytes[0] = (bytes[0] ?? 0) | 0x02;
  else bytes[5] = ((bytes[5] ?? 0) + 1) & 0xff;
  return formatMac(bytes);
}

function readOptions(context: FirmwareContext): HttpUpdateOptions {
  const raw = context.options;
  const text = (key: string, fallback: string) =>
    typeof raw[key] === 'string' ? (raw[key] as string) : fallback;
  const number = (key: string, fallback: number) =>
    typeof raw[key] === 'number' ? (raw[key] as number) : fallback;
  const flag = (key: string, fallback: boolean) =>
    typeof raw[key] === 'boolean' ? (raw[key] as boolean) : fallback;
  const defaults = context.platform === 'esp8266' ? ESP8266_DEFAULTS : ESP32_DEFAULTS;
  const staMac = formatMac(macBytes(text('staMac', defaults.staMac)));
  const follow = text('followRedirects', DEFAULT_OPTIONS.followRedirects);
  return {
    updateUrl: text('updateUrl', ''),
    checkOnBoot: flag('checkOnBoot', DEFAULT_OPTIONS.checkOnBoot),
    checkIntervalMs: number('checkIntervalMs', DEFAULT_OPTIONS.checkIntervalMs),
    rebootOnUpdate: flag('rebootOnUpdate', DEFAULT_OPTIONS.rebootOnUpdate),
    target: text('target', 'sketch') === 'spiffs' ? 'spiffs' : 'sketch',
    followRedirects: follow === 'strict' || follow === 'force' ? follow : 'disable',
    clientTimeoutMs: number('clientTimeoutMs', DEFAULT_OPTIONS.clientTimeoutMs),
    ca: text('ca', ''),
    fingerprint: text('fingerprint', ''),
    insecure: flag('insecure', false),
    credentials: text('credentials', ''),
    staMac,
    apMac: formatMac(macBytes(text('apMac', derivedApMac(context, staMac)))),
    chipId: typeof raw.chipId === 'number' ? raw.chipId : undefined,
    sdkVersion: text('sdkVersion', defaults.sdkVersion),
    streamTimeoutMs: number('streamTimeoutMs', DEFAULT_OPTIONS.streamTimeoutMs),
    streamTimeoutReads: number('streamTimeoutReads', DEFAULT_OPTIONS.streamTimeoutReads),
    streamReadTimeoutMs: number('streamReadTimeoutMs', DEFAULT_OPTIONS.streamReadTimeoutMs),
  };
}

function settingsFrom(options: HttpUpdateOptions): HttpUpdateSettings {
  const url = new URL(options.updateUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new RangeError(`unsupported scheme ${url.protocol}`);
  // begin(url) takes `user:pass@` from the URL as Basic credentials.
  const fromUrl =
    url.username === '' ? '' : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = '';
  url.password = '';
  const staBytes = macBytes(options.staMac);
  const identity: DeviceIdentity = {
    staMac: options.staMac,
    apMac: options.apMac,
    chipId: options.chipId ?? ((staBytes[3] ?? 0) << 16) | ((staBytes[4] ?? 0) << 8) | (staBytes[5] ?? 0),
    sdkVersion: options.sdkVersion,
  };
  return {
    url: url.toString(),
    target: options.target,
    followRedirects: options.followRedirects,
    clientTimeoutMs: options.clientTimeoutMs,
    tls: {
      ...(options.ca === '' ? {} : { ca: options.ca }),
      ...(options.fingerprint === '' ? {} : { fingerprint: options.fingerprint }),
      insecure: options.insecure,
    },
    credentials: options.credentials !== '' ? options.credentials : fromUrl,
    identity,
    stream: {
      streamTimeoutMs: options.streamTimeoutMs,
      streamTimeoutReads: options.streamTimeoutReads,
      streamReadTimeoutMs: options.streamReadTimeoutMs,
    },
  };
}

/**
 * One boot of the httpUpdate example sketch: it checks `updateUrl` at boot, every
 * `checkIntervalMs` and on the console command `ota check`, prints the example's result lines,
 * and restarts into the new sketch when the library reports success.
 */
class HttpUpdateSketch {
  private readonly context: FirmwareContext;
  private readonly options: HttpUpdateOptions;
  private readonly client: HttpUpdateClient;
  private readonly platform: PullPlatform;
  private checking: Promise<void> | undefined;

  constructor(context: FirmwareContext) {
    this.context = context;
    this.options = readOptions(context);
    this.platform = pullPlatformFor(context, { streamTimeoutReads: this.options.streamTimeoutReads });
    this.client = new HttpUpdateClient(context, this.platform);
  }

  /** Runs one check unless one is already running. */
  check(): Promise<void> {
    this.checking ??= this.runCheck()
      .catch((error: unknown) => {
        // A fault of the emulator itself, not of the device: say so on the console instead of crashing the host.
        if (!this.context.signal.aborted)
          this.context.console.line(`emulator fault in http-update: ${String(error)}`);
      })
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }

  async settled(): Promise<void> {
    await this.checking;
  }

  private async runCheck(): Promise<void> {
    const context = this.context;
    if (this.options.updateUrl === '' || context.signal.aborted) return;
    let settings: HttpUpdateSettings;
    try {
      settings = settingsFrom(this.options);
    } catch {
      // HTTPClient::begin() refuses a URL it cannot parse; GET() then fails to connect.
      context.console.line(
        `HTTP_UPDATE_FAILED Error (-1): ${lastErrorString(context.platform, -1, () => '')}`,
      );
      return;
    }
    const outcome = await this.client.update(settings);
    if (context.signal.aborted) return;
    switch (outcome.result) {
      case HttpUpdateResult.FAILED:
        context.console.line(`HTTP_UPDATE_FAILED Error (${outcome.lastError}): ${outcome.lastErrorString}`);
        if (context.defects.has('restarts-after-failed-download')) context.restart();
        return;
      case HttpUpdateResult.NO_UPDATES:
        context.console.line('HTTP_UPDATE_NO_UPDATES');
        return;
      case HttpUpdateResult.OK: {
        // The library restarts from inside update(), so the sketch never prints HTTP_UPDATE_OK then.
        if (this.options.rebootOnUpdate && this.platform.restartsAfter(this.options.target)) {
          context.restart();
          return;
        }
        context.console.line('HTTP_UPDATE_OK');
        return;
      }
    }
  }
}

export const httpUpdateFirmware: FirmwareModule = {
  profile: 'http-update',
  platforms: ['esp8266', 'esp32'],
  defaultOptions: { ...DEFAULT_OPTIONS },
  // The library calls ESP.restart() from inside update(), right after the image is in
  // (reference/arduino-ota.md §3.1 step 8).
  restartDelayMs: () => 0,
  defects: [
    {
      name: 'flashes-on-304',
      breaks: [
        'http-update/responses/1',
        'reference/arduino-ota.md §3.1 Response handling: 304 → HTTP_UPDATE_NO_UPDATES, nothing is written',
      ],
      description: 'treats 304 Not Modified like 200 and flashes the body it carries',
    },
    {
      name: 'skips-magic-check',
      breaks: [
        'http-update/integrity/4',
        'reference/arduino-ota.md §3.1 step 5 / §3.2: a body whose first byte is not 0xE9 (or 0x1F on ESP8266) fails with HTTP_UE_BIN_VERIFY_HEADER_FAILED (-106) before anything is written',
      ],
      description: 'skips the peek of the image head (and the flash-size check) and starts writing',
    },
    {
      name: 'ignores-x-md5',
      breaks: [
        'http-update/integrity/1',
        'reference/arduino-ota.md §3.1 step 7: the x-MD5 header is given to Update.setMD5(); a mismatch fails with Update error 7',
      ],
      description: 'never passes x-MD5 to the Updater, so a body with the wrong MD5 is flashed and booted',
    },
    {
      name: 'restarts-after-failed-download',
      breaks: [
        'http-update/responses/2',
        'http-update/responses/3',
        'http-update/integrity/1',
        'http-update/integrity/2',
        'http-update/integrity/3',
        'http-update/integrity/4',
        'reference/arduino-ota.md §3.1 step 8: the chip restarts only after a successful update',
      ],
      description: 'restarts the chip after HTTP_UPDATE_FAILED',
    },
    WRITES_SKETCH_IN_PLACE,
    EBOOT_CLEARS_COMMAND_EARLY,
    {
      name: 'wrong-header-values',
      breaks: [
        'http-update/request/1',
        'http-update/request/2',
        'reference/arduino-ota.md §3.1 Request: x-ESP8266-sketch-md5 is the MD5 of the running sketch and x-ESP8266-free-space is ESP.getFreeSketchSpace() (x-ESP32-* alike, §3.2)',
      ],
      description:
        'reports the MD5 of the image without its first 4 KiB and a free space that ignores the running sketch',
    },
  ],
  async start(context: FirmwareContext): Promise<RunningFirmware> {
    const sketch = new HttpUpdateSketch(context);
    const options = readOptions(context);
    context.console.line(`Sketch ${context.running.projectName} version ${context.running.version}`);
    // A test sketch prints the build it is (`Serial.println("Built " __DATE__ " " __TIME__)`).
    if (context.running.built) context.console.line(`Built ${context.running.built}`);
    const timers: NodeJS.Timeout[] = [];
    if (options.checkOnBoot) timers.push(setTimeout(() => void sketch.check(), 0));
    if (options.checkIntervalMs > 0)
      timers.push(setInterval(() => void sketch.check(), options.checkIntervalMs));
    // The lab sketch's UART command; the subscription ends with this boot.
    context.console.onCommand((line) => {
      if (line === 'ota check') void sketch.check();
    });
    return {
      stop: async () => {
        for (const timer of timers) clearTimeout(timer);
        await sketch.settled().catch(() => {});
      },
    };
  },
};
