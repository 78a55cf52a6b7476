import { createHash } from 'node:crypto';
import type { FirmwareContext } from '../../device/index.ts';
import { APP_START_OFFSET } from '../../esp8266-updater/index.ts';

/** What the sketch knows about its chip that the flash does not hold (WiFi MACs, chip ID, SDK). */
export interface DeviceIdentity {
  staMac: string;
  apMac: string;
  /** ESP8266 only: ESP.getChipId(), the low three bytes of the factory MAC. */
  chipId: number;
  sdkVersion: string;
}

export interface UpdateRequestValues {
  identity: DeviceIdentity;
  freeSketchSpace: number;
  /** `x-…-mode`: `sketch`, or `spiffs` for updateFS(). */
  mode: 'sketch' | 'spiffs';
  /** The `currentVersion` argument; the header is left out when empty. */
  currentVersion: string;
  /** Base64 of `user:pass` (setAuthorization), or empty. */
  authorization: string;
}

/** `Host: host[:port]`: the port is written only when it is neither 80 nor 443 (reference §3.1). */
export function hostHeader(url: URL): string {
  const secure = url.protocol === 'https:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  return port === 80 || port === 443 ? url.hostname : `${url.hostname}:${port}`;
}

/**
 * The header block of the update GET, in the order each platform's HTTPClient writes it
 * (reference §3.1 for ESP8266, §3.2 for ESP32), every value read from this boot's chip.
 * `wrongValues` is the defect: the sketch MD5 over the image without its first 4 KiB (the ESP8266 app without eboot),
 * and the free space without the running sketch subtracted.
 */
export function updateRequestHeaders(
  context: FirmwareContext,
  url: URL,
  values: UpdateRequestValues,
  wrongValues: boolean,
): string {
  const running = context.running;
  let sketchMd5 = running.md5;
  let freeSpace = values.freeSketchSpace;
  if (wrongValues) {
    const app = context.flash.read(
      running.offset + APP_START_OFFSET,
      Math.max(0, running.size - APP_START_OFFSET),
    );
    sketchMd5 = createHash('md5').update(app).digest('hex');
    freeSpace = values.freeSketchSpace + running.size;
  }
  const lines: string[] = [`Host: ${hostHeader(url)}`];
  if (context.platform === 'esp8266') {
    lines.push('User-Agent: ESP8266-http-Update');
    if (values.authorization !== '') lines.push(`Authorization: Basic ${values.authorization}`);
    lines.push(
      'Connection: close',
      `x-ESP8266-Chip-ID: ${values.identity.chipId}`,
      `x-ESP8266-STA-MAC: ${values.identity.staMac}`,
      `x-ESP8266-AP-MAC: ${values.identity.apMac}`,
      `x-ESP8266-free-space: ${freeSpace}`,
      `x-ESP8266-sketch-size: ${running.size}`,
      `x-ESP8266-sketch-md5: ${sketchMd5}`,
      `x-ESP8266-chip-size: ${context.flash.size}`,
      `x-ESP8266-sdk-version: ${values.identity.sdkVersion}`,
      `x-ESP8266-mode: ${values.mode}`,
    );
    if (values.currentVersion !== '') lines.push(`x-ESP8266-version: ${values.currentVersion}`);
    // sendRequest() adds it for the body-less GET, after the headers added so far.
    lines.push('Content-Length: 0');
  } else {
    lines.push('User-Agent: ESP32-http-Update', 'Connection: close');
    if (values.authorization !== '') lines.push(`Authorization: Basic ${values.authorization}`);
    lines.push(
      'Cache-Control: no-cache',
      `x-ESP32-STA-MAC: ${values.identity.staMac}`,
      `x-ESP32-AP-MAC: ${values.identity.apMac}`,
      `x-ESP32-free-space: ${freeSpace}`,
      `x-ESP32-sketch-size: ${running.size}`,
    );
    if (sketchMd5 !== '') lines.push(`x-ESP32-sketch-md5: ${sketchMd5}`);
    lines.push(`x-ESP32-sketch-sha256: ${sketchSha256(context)}`);
    lines.push(
      `x-ESP32-chip-size: ${context.flash.size}`,
      `x-ESP32-sdk-version: ${values.identity.sdkVersion}`,
      `x-ESP32-mode: ${values.mode}`,
    );
    if (values.currentVersion !== '') lines.push(`x-ESP32-version: ${values.currentVersion}`);
  }
  return lines.map((line) => `${line}\r\n`).join('');
}

/** esp_image_header_t.hash_appended: the last byte of the 24-byte header. */
const HASH_APPENDED_OFFSET = 23;
const SHA256_BYTES = 32;

/**
 * ESP.getSketchSHA256() is esp_partition_get_sha256() of the running app: the SHA-256 appended
 * to the image when there is one, else the hash of the whole image; upper-case hex.
 */
function sketchSha256(context: FirmwareContext): string {
  const { offset, size } = context.running;
  const flash = context.flash;
  const appended = flash.read(offset + HASH_APPENDED_OFFSET, 1)[0] === 1 && size > SHA256_BYTES;
  const digest = appended
    ? Buffer.from(flash.read(offset + size - SHA256_BYTES, SHA256_BYTES)).toString('hex')
    : createHash('sha256').update(flash.read(offset, size)).digest('hex');
  return digest.toUpperCase();
}
