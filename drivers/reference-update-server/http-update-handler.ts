import { createHash } from 'node:crypto';
import type http from 'node:http';
import { type Catalogue, DEFAULT_FIRMWARE_ID, type Release } from './catalogue.ts';
import { deviceOf } from './rollout.ts';
import { OCTET_STREAM, plain, sendRelease } from './send-release.ts';
import { type Handler, newestFor, type ServeContext } from './serve-context.ts';

/**
 * ESP8266httpUpdate / ESP32 HTTPUpdate (docs/protocols/arduino-ota.md §3.1/§3.2), as the docs' server
 * example answers (esp8266/Arduino doc/ota_updates/readme.rst, PHP): 403 unless the updater's
 * User-Agent and headers are there; each chip its own folder; 304 when the device runs the newest
 * release it may have (version, sketch MD5), reports a newer version, or has no room for it; else
 * 200 with octet-stream, Content-Length and x-MD5, and one `Range: bytes=` honoured (206).
 */
export function httpUpdateHandler(context: ServeContext): Handler {
  const { defects } = context;
  const anyClient = defects.has('serves-any-client');
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://server');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return plain(response, 405, 'only GET and HEAD');
    const platform = updaterPlatform(request, defects);
    const header = (name: string) =>
      platform === undefined
        ? undefined
        : (request.headers[`x-${platform}-${name}`.toLowerCase()] as string | undefined);
    if (!anyClient && (!platform || header('sta-mac') === undefined || header('sketch-md5') === undefined)) {
      return plain(response, 403, 'only for ESP8266/ESP32 updater');
    }
    if (url.pathname !== context.path) return plain(response, 404, 'no such firmware');
    const releases = releasesFor(context.catalogue, url.searchParams.get('firmware'), platform, defects);
    const device = deviceOf(request, url);
    const latest = releases && newestFor(context, releases, device);
    if (!latest) return plain(response, 404, 'no such firmware');
    if (!defects.has('never-304') && !wantsRelease(latest, header, defects)) {
      response.writeHead(304, 'Not Modified');
      return response.end();
    }
    sendRelease(
      request,
      response,
      latest,
      {
        // The defect hashes the file name (`<version>.bin`) where the file's bytes were meant.
        md5: defects.has('x-md5-of-file-name') ? md5Hex(`${latest.version}.bin`) : latest.md5,
        ranges: !defects.has('ignores-range'),
        contentType: OCTET_STREAM,
        contentLength: !defects.has('no-content-length'),
        lowerCaseNames: false,
      },
      context.delivery(device, response),
    );
  };
}

function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/**
 * Which updater asks, by its User-Agent (arduino-ota.md §3.1/§3.2); with `ignores-user-agent`
 * by whichever platform's x-…-STA-MAC header is present.
 */
function updaterPlatform(
  request: http.IncomingMessage,
  defects: ReadonlySet<string>,
): 'esp8266' | 'esp32' | undefined {
  if (defects.has('ignores-user-agent') || defects.has('serves-any-client')) {
    if (request.headers['x-esp32-sta-mac'] !== undefined && !defects.has('esp8266-only')) return 'esp32';
    return request.headers['x-esp8266-sta-mac'] !== undefined ? 'esp8266' : undefined;
  }
  const agent = request.headers['user-agent'] ?? '';
  if (agent === 'ESP8266-http-Update') return 'esp8266';
  return agent === 'ESP32-http-Update' && !defects.has('esp8266-only') ? 'esp32' : undefined;
}

/**
 * The releases a check gets: the `firmware=` id it names, else its platform's folder (an ESP8266
 * must never get an ESP32 build), else the `default` folder.
 */
function releasesFor(
  catalogue: Catalogue,
  firmware: string | null,
  platform: 'esp8266' | 'esp32' | undefined,
  defects: ReadonlySet<string>,
): Release[] | undefined {
  if (firmware) return catalogue.releases.get(firmware);
  // The defect knows one build, the ESP32 one, and serves it to every chip.
  const folder = defects.has('one-image-for-all-platforms') ? 'esp32' : platform;
  return (
    (folder && catalogue.releases.get(folder)) ||
    catalogue.releases.get(DEFAULT_FIRMWARE_ID) ||
    [...catalogue.releases.values()][0]
  );
}

/**
 * Version-targeted updates (seeds/ota-firmware-hosting-guide.md § Version-Specific Updates): no
 * update when the device runs the release (same version or same sketch MD5), reports a newer
 * version, or has no room for it (arduino-ota.md §3.1 200 step 2: it would fail with -100).
 */
function wantsRelease(
  latest: Release,
  header: (name: string) => string | undefined,
  defects: ReadonlySet<string>,
): boolean {
  const version = header('version');
  if (version === latest.version) return false;
  if (!defects.has('ignores-sketch-md5') && header('sketch-md5')?.toLowerCase() === latest.md5) return false;
  if (!defects.has('downgrades-newer-devices') && version !== undefined && isNewer(version, latest.version))
    return false;
  const free = header('free-space');
  if (!defects.has('ignores-free-space') && free !== undefined && Number.isFinite(Number(free))) {
    if (latest.bytes.length > Number(free)) return false;
  }
  return true;
}

const NUMERIC_VERSION = /^v?\d+(\.\d+)*$/;

/** `a` is a newer dotted-number version than `b`; versions that are not dotted numbers are never ordered. */
export function isNewer(a: string, b: string): boolean {
  if (!NUMERIC_VERSION.test(a) || !NUMERIC_VERSION.test(b)) return false;
  const parts = (v: string) => v.replace(/^v/, '').split('.').map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return false;
}
