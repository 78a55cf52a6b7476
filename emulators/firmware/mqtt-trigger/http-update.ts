import type { Esp8266Services, FirmwareContext } from '../../device/index.ts';
import { EspError, OTA_WITH_SEQUENTIAL_WRITES } from '../../esp32-ota-ops/index.ts';
import { roundUpToSector } from '../../esp8266-updater/index.ts';
import { emulatedMac } from '../../rom-loader/index.ts';
import { DEFECTS } from './dialect.ts';
import { bodyReads, HttpTransportError, httpGet } from './http-get.ts';

/** `t_httpUpdate_return` with the error ESP8266httpUpdate would report for it. */
export type HttpUpdateOutcome =
  | { result: 'HTTP_UPDATE_OK' }
  | { result: 'HTTP_UPDATE_NO_UPDATES' }
  | { result: 'HTTP_UPDATE_FAILED'; lastError: number; lastErrorString: string };

/** Update.writeStream reads into its one-sector buffer (4096 bytes), on both cores. */
const UPDATER_BUFFER_SIZE = 4096;

/** getLastErrorString() texts (reference/arduino-ota.md §3.1). */
const UPDATE_ERROR_TEXT: Record<number, string> = {
  [-100]: 'Not Enough space',
  [-101]: 'Server Did Not Report Size',
  [-102]: 'File Not Found (404)',
  [-103]: 'Forbidden (403)',
  [-104]: 'Wrong HTTP Code',
  [-105]: 'Wrong MD5',
  [-106]: 'Verify Bin Header Failed',
  [-107]: 'New Binary Does Not Fit Flash Size',
  [-108]: 'Unauthorized (401)',
};

function failed(lastError: number, text?: string): HttpUpdateOutcome {
  return {
    result: 'HTTP_UPDATE_FAILED',
    lastError,
    lastErrorString: text ?? UPDATE_ERROR_TEXT[lastError] ?? '',
  };
}

/** Where the downloaded sketch goes: the ESP8266 `Update` object, or ESP32 `esp_ota_*` (Arduino-ESP32 `Update`). */
interface UpdateSink {
  freeSpace(): number;
  /** Returns an error outcome, or undefined when the sink accepted the call. */
  begin(size: number, md5: string | undefined): HttpUpdateOutcome | undefined;
  write(chunk: Buffer): HttpUpdateOutcome | undefined;
  end(): HttpUpdateOutcome | undefined;
}

/**
 * `ESPhttpUpdate.update(client, url, currentVersion)` with `rebootOnUpdate(false)`, as Tasmota
 * calls it: the x-ESP8266-* request headers, the status mapping, the header peek and the Updater
 * run. On ESP32 the same flow writes through esp_ota_ops (`httpUpdateLight`).
 */
export async function httpUpdate(
  context: FirmwareContext,
  url: string,
  currentVersion: string,
  timeoutMs: number,
): Promise<HttpUpdateOutcome> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return failed(-1, 'HTTP error: connection failed');
  }
  const sink = context.esp8266 ? esp8266Sink(context.esp8266) : esp32Sink(context);
  const staMac = emulatedMac(context.name);
  const prefix = context.platform === 'esp8266' ? 'x-ESP8266' : 'x-ESP32';
  const headers: Record<string, string> = {
    'User-Agent': context.platform === 'esp8266' ? 'ESP8266-http-Update' : 'ESP32-http-Update',
    Connection: 'close',
    ...(context.platform === 'esp8266' ? { [`${prefix}-Chip-ID`]: '10765432' } : {}),
    // WiFi.macAddress(): the chip's own MAC, the one its ROM loader reports too, so a fleet's
    // devices are told apart (a staged rollout places each device by it).
    [`${prefix}-STA-MAC`]: formatMac(staMac),
    [`${prefix}-AP-MAC`]: formatMac(apMacOf(staMac, context.platform)),
    [`${prefix}-free-space`]: String(sink.freeSpace()),
    [`${prefix}-sketch-size`]: String(context.running.size),
    [`${prefix}-sketch-md5`]: context.running.md5,
    [`${prefix}-chip-size`]: String(context.flash.size),
    [`${prefix}-sdk-version`]: context.platform === 'esp8266' ? '2.2.2-dev(38a443e)' : 'v4.4.7',
    [`${prefix}-mode`]: 'sketch',
    ...(currentVersion ? { [`${prefix}-version`]: currentVersion } : {}),
  };
  let response: Awaited<ReturnType<typeof httpGet>>;
  try {
    response = await httpGet(target, headers, timeoutMs, context.signal);
  } catch (error) {
    const transport = error instanceof HttpTransportError ? error : undefined;
    return failed(transport?.httpcError ?? -1, `HTTP error: ${transport?.message ?? 'connection failed'}`);
  }
  const status = response.statusCode ?? 0;
  if (status !== 200) {
    response.resume();
    if (status === 304) return { result: 'HTTP_UPDATE_NO_UPDATES' };
    if (status === 404) return failed(-102);
    if (status === 403) return failed(-103);
    if (status === 401) return failed(-108);
    return failed(-104);
  }
  const length = Number(response.headers['content-length'] ?? 0);
  if (!(length > 0)) {
    response.resume();
    return failed(-101);
  }
  if (length > sink.freeSpace()) {
    response.resume();
    return failed(-100);
  }
  const md5Header = response.headers['x-md5'];
  const md5 = typeof md5Header === 'string' ? md5Header : undefined;
  let received = 0;
  let started = false;
  try {
    for await (const chunk of bodyReads(response as AsyncIterable<Buffer>, UPDATER_BUFFER_SIZE)) {
      if (context.signal.aborted || !context.imageBytesArrived(chunk.length))
        return failed(-1, 'HTTP error: connection lost');
      if (!started) {
        // peekBytes(4): a sketch starts with the image magic, or with gzip's 0x1F.
        if (chunk.length < 4 || (chunk[0] !== 0xe9 && chunk[0] !== 0x1f)) {
          response.destroy();
          return failed(-106);
        }
        const beginError = sink.begin(length, md5);
        if (beginError) {
          response.destroy();
          return beginError;
        }
        started = true;
      }
      const writeError = sink.write(chunk);
      if (writeError) {
        response.destroy();
        return writeError;
      }
      received += chunk.length;
      await context.pace();
    }
  } catch {
    if (context.signal.aborted) return failed(-1, 'HTTP error: connection lost');
  }
  if (!started) return failed(-106);
  if (received < length) {
    // Update.writeStream returns short: the Updater's stream timeout.
    return failed(6, 'Update error: ERROR[6]: Stream Read Timeout');
  }
  return sink.end() ?? { result: 'HTTP_UPDATE_OK' };
}

function esp8266Sink(services: Esp8266Services): UpdateSink {
  const updater = services.createUpdater();
  const updaterError = (): HttpUpdateOutcome =>
    failed(updater.getError(), `Update error: ${updater.printError().trim()}`);
  return {
    // ESP.getFreeSketchSpace(): from the end of the running sketch to the file system.
    freeSpace: () => services.layout.fsStart - roundUpToSector(services.layout.sketchSize),
    begin: (size, md5) => {
      if (!updater.begin(size)) return updaterError();
      if (md5 !== undefined && !updater.setMD5(md5)) return failed(-105);
      return undefined;
    },
    write: (chunk) => (updater.write(chunk) === chunk.length ? undefined : updaterError()),
    end: () => (updater.end() ? undefined : updaterError()),
  };
}

function esp32Sink(context: FirmwareContext): UpdateSink {
  const ota = context.esp32!.ota;
  const partition = ota.getNextUpdatePartition();
  let handle: number | undefined;
  const espFailure = (error: unknown): HttpUpdateOutcome =>
    failed(error instanceof EspError ? error.err : -1, `Update error: ${(error as Error).message}`);
  return {
    freeSpace: () => partition?.size ?? 0,
    begin: () => {
      if (!partition) return failed(-100);
      try {
        handle = ota.begin(partition, OTA_WITH_SEQUENTIAL_WRITES);
        return undefined;
      } catch (error) {
        return espFailure(error);
      }
    },
    write: (chunk) => {
      try {
        ota.write(handle!, chunk);
        return undefined;
      } catch (error) {
        return espFailure(error);
      }
    },
    end: () => {
      try {
        ota.end(handle!);
        // keeps-old-image: the boot partition is never switched (see esp-https-ota.ts).
        if (!context.defects.has(DEFECTS.keepsOldImage)) ota.setBootPartition(partition!);
        return undefined;
      } catch (error) {
        return espFailure(error);
      }
    },
  };
}

function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(':');
}

/** The softAP MAC each SDK derives from the station MAC (ESP8266: bit 1 of byte 0; ESP32: base + 1). */
function apMacOf(sta: Uint8Array, platform: string): Uint8Array {
  const ap = Uint8Array.from(sta);
  if (platform === 'esp8266') ap[0] = (ap[0] ?? 0) | 0x02;
  else ap[5] = ((ap[5] ?? 0) + 1) & 0xff;
  return ap;
}
