import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { PullTls } from '../../drivers/pull-client/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import type { Platform } from '../../vocabulary/index.ts';
import { RigFailure, requirement } from '../framework/index.ts';

type ServerProfile = 'http-update' | 'luartos' | 'esp-https-ota' | 'mqtt-trigger';

/**
 * Role 2 of DESIGN.md: the runner gives these suites to targets of kind `update-server` only;
 * each requirement needs the server's profile, so a Lua RTOS server skips the httpUpdate ones.
 */
export function serverRequirement(profile: ServerProfile): typeof requirement {
  return (id, level, text, options, body) =>
    requirement(id, level, text, { ...options, needs: [profile, ...(options.needs ?? [])] }, body);
}

export function serverUrl(target: Target): string {
  const url = target.description.url;
  if (!url) throw new RigFailure(`target ${target.name}: an update server under test needs its "url"`);
  return url;
}

/**
 * The URL a device asks: `options.path` against the server's URL when the rig names one, else the
 * URL itself when it has a path (`http://host/update.php`), else `/firmware.bin`.
 */
export function endpoint(target: Target): URL {
  const base = new URL(serverUrl(target));
  const path = target.description.options?.path;
  if (typeof path === 'string' && path !== '') return new URL(path, base);
  return base.pathname === '/' ? new URL('/firmware.bin', base) : base;
}

/** What the rig says the server publishes (`options`): newest and an older version or commit. */
export function published(target: Target, key: string, fallback?: string): string {
  const value = target.description.options?.[key];
  if (typeof value === 'string' && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new RigFailure(`target ${target.name}: options.${key} must name what the server publishes`);
}

/** The chips a server serves: the one its target names, else both (an HTTPUpdate server may serve either). */
export function servedPlatforms(target: Target): readonly Platform[] {
  return target.platform ? [target.platform] : ['esp8266', 'esp32'];
}

/**
 * `Authorization` as the device sends it, from the rig's secrets: Basic for a user name and
 * password (ESP8266httpUpdate ≥ 3.0 `setAuthorization`, esp_http_client's URL credentials), Bearer
 * for a token (the hosting guide's `HTTP_AUTH_TYPE_BEARER`). None when the rig gives none.
 */
export function authorizationLines(target: Target): string[] {
  const { username, password, token } = target.description;
  if (password !== undefined) {
    return [`Authorization: Basic ${Buffer.from(`${username ?? ''}:${password}`).toString('base64')}`];
  }
  return token === undefined ? [] : [`Authorization: Bearer ${token}`];
}

export function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `Host` as the Arduino HTTPClient writes it: the port only when it is not 80/443. */
export function hostHeader(url: URL): string {
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return port === 80 || port === 443 ? url.hostname : `${url.hostname}:${port}`;
}

/** App descriptor magic (`ESP_APP_DESC_MAGIC_WORD`, little-endian at 0x20): docs/protocols/esp-idf.md §1.6, §5.4. */
const APP_DESC_MAGIC = 0xabcd5432;

/**
 * An ESP32 app image as esp_https_ota and the ESP32 HTTPUpdate client see it: magic 0xE9 at 0 and
 * the app descriptor's magic word at 0x20 (24-byte header + 8-byte segment header). An ESP8266
 * image has segment data there, and its first segment header at 8.
 */
export function isEsp32AppImage(bytes: Uint8Array): boolean {
  if (bytes.length < 0x24 || bytes[0] !== 0xe9) return false;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32LE(0x20) === APP_DESC_MAGIC;
}

/**
 * How the harness, as the device, connects to an https server: the rig's pinned CA (tls.caFile)
 * and the URL's host name when `verifyPeer` is not false, at the rig's TLS floor.
 */
export function serverTls(target: Target): PullTls {
  const settings = target.description.tls;
  const host = new URL(serverUrl(target)).hostname.replace(/^\[|\]$/g, '');
  const tls: PullTls = {
    ...(settings?.minVersion ? { minVersion: settings.minVersion } : {}),
    ...(isIP(host) ? {} : { servername: host }),
  };
  if (settings?.caFile !== undefined && settings.verifyPeer !== false) tls.ca = pinnedCertificate(target);
  return tls;
}

/** The certificate (or CA) the device pins: the rig's tls.caFile. */
export function pinnedCertificate(target: Target): string {
  const file = target.description.tls?.caFile;
  if (file === undefined) {
    throw new RigFailure(`target ${target.name}: tls.caFile must name the certificate the devices pin`);
  }
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new RigFailure(`target ${target.name}: tls.caFile ${file}: ${(error as Error).message}`);
  }
}
