import type { FirmwareContext } from '../../device/index.ts';
import { EspError, OTA_WITH_SEQUENTIAL_WRITES } from '../../esp32-ota-ops/index.ts';
import { DEFECTS } from './dialect.ts';
import { bodyReads, HttpTransportError, httpGet } from './http-get.ts';

/** The `esp_err_t` name `esp_https_ota()` returned, or ESP_OK. */
export type EspHttpsOtaResult = 'ESP_OK' | string;

const TAG = 'esp_https_ota';
const MAX_REDIRECTS = 10;
/** esp_https_ota reads the body into a buffer of DEFAULT_OTA_BUF_SIZE = 1024 bytes (reference/esp-idf.md §5.1). */
const OTA_BUFFER_SIZE = 1024;

/**
 * `esp_https_ota()` on this boot's `esp_ota_ops` (reference/esp-idf.md §5): GET the URL, follow
 * redirects, map the status, write the body to the next OTA slot, then esp_ota_end and set the
 * boot partition. Logs the component's own lines; returns the error name the caller logs.
 */
export async function espHttpsOta(
  context: FirmwareContext,
  url: string,
  timeoutMs: number,
): Promise<EspHttpsOtaResult> {
  const ota = context.esp32?.ota;
  if (!ota) return 'ESP_ERR_NOT_SUPPORTED';
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    context.console.log('E', TAG, 'Failed to establish HTTP connection');
    return 'ESP_ERR_INVALID_ARG';
  }
  let response: Awaited<ReturnType<typeof httpGet>> | undefined;
  for (let redirects = 0; ; redirects++) {
    try {
      response = await httpGet(target, { 'User-Agent': 'ESP32 HTTP Client/1.0' }, timeoutMs, context.signal);
    } catch (error) {
      context.console.log('E', 'esp-tls', `Failed to open new connection: ${errorText(error)}`);
      context.console.log('E', TAG, 'Failed to establish HTTP connection');
      return 'ESP_FAIL';
    }
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location && redirects < MAX_REDIRECTS) {
      response.resume();
      // esp_http_client_set_redirection() → esp_http_client_set_url(): a Location http_parser
      // refuses is "Error parse url %s" and ESP_ERR_INVALID_ARG, and esp_https_ota gives up
      // (reference/esp-idf.md §5.2 step 8, §5.3); the chip goes on running.
      if (!URL.canParse(location, target.href)) {
        context.console.log('E', 'HTTP_CLIENT', `Error parse url ${location}`);
        context.console.log('E', TAG, 'Failed to establish HTTP connection');
        return 'ESP_ERR_INVALID_ARG';
      }
      target = new URL(location, target);
      continue;
    }
    if (status === 304) {
      response.resume();
      context.console.log('I', TAG, 'OTA image not modified since last request (status code: 304)');
      return 'ESP_ERR_HTTP_NOT_MODIFIED';
    }
    if (status >= 400 || status < 200) {
      response.resume();
      if (status === 403 || status === 404) context.console.log('E', TAG, `File not found(${status})`);
      else if (status >= 500) context.console.log('E', TAG, `Server error (${status})`);
      else context.console.log('E', TAG, `Client error (${status})`);
      context.console.log('E', TAG, 'Failed to establish HTTP connection');
      return 'ESP_FAIL';
    }
    break;
  }
  context.console.log('I', TAG, 'Starting OTA...');
  const partition = ota.getNextUpdatePartition();
  if (!partition) {
    response.resume();
    context.console.log(
      'E',
      TAG,
      'Given staging partition or another suitable Passive OTA partition could not be found',
    );
    return 'ESP_FAIL';
  }
  context.console.log(
    'I',
    TAG,
    `Writing to <${partition.label}> partition at offset 0x${partition.offset.toString(16)}`,
  );
  const contentLength = Number(response.headers['content-length'] ?? Number.NaN);
  let handle: number;
  try {
    handle = ota.begin(partition, OTA_WITH_SEQUENTIAL_WRITES);
  } catch (error) {
    response.resume();
    return espErrorName(error);
  }
  let received = 0;
  try {
    for await (const chunk of bodyReads(response as AsyncIterable<Buffer>, OTA_BUFFER_SIZE)) {
      if (context.signal.aborted || !context.imageBytesArrived(chunk.length)) throw new Error('boot ended');
      try {
        ota.write(handle, chunk);
      } catch (error) {
        const code = error instanceof EspError ? error.err : -1;
        context.console.log('E', TAG, `Error: esp_ota_write failed! err=0x${(code >>> 0).toString(16)}`);
        throw error;
      }
      received += chunk.length;
      await context.pace();
    }
  } catch (error) {
    response.destroy();
    abortQuietly(ota, handle);
    if (error instanceof EspError) return error.code;
    context.console.log('E', TAG, `data read -1, errno 104`);
    return 'ESP_FAIL';
  }
  if (Number.isFinite(contentLength) && received < contentLength) {
    abortQuietly(ota, handle);
    context.console.log('E', TAG, 'Connection closed before complete data was received!');
    return 'ESP_FAIL';
  }
  try {
    ota.end(handle);
  } catch (error) {
    return espErrorName(error);
  }
  // keeps-old-image: a hand-rolled download loop that stops at esp_ota_end, so otadata still
  // names the running slot and the next boot runs the old image again.
  if (context.defects.has(DEFECTS.keepsOldImage)) return 'ESP_OK';
  try {
    ota.setBootPartition(partition);
  } catch (error) {
    const code = error instanceof EspError ? error.err : -1;
    context.console.log('E', TAG, `esp_ota_set_boot_partition failed! err=0x${(code >>> 0).toString(16)}`);
    return espErrorName(error);
  }
  return 'ESP_OK';
}

function abortQuietly(ota: NonNullable<FirmwareContext['esp32']>['ota'], handle: number): void {
  try {
    ota.abort(handle);
  } catch {
    // Already freed by a failed esp_ota_end, as in the C code.
  }
}

function espErrorName(error: unknown): string {
  return error instanceof EspError ? error.code : 'ESP_FAIL';
}

function errorText(error: unknown): string {
  return error instanceof HttpTransportError || error instanceof Error ? error.message : String(error);
}
