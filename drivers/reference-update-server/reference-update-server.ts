import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureVersion, TLSSocket } from 'node:tls';
import {
  type Catalogue,
  DEFAULT_FIRMWARE_ID,
  demoCatalogue,
  demoPlatformCatalogue,
  loadCatalogue,
  ReferenceServerError,
  type Release,
} from './catalogue.ts';
import { type ReferenceServerProfile, referenceServerDefects } from './defects.ts';

export interface ReferenceUpdateServerOptions {
  /** Which clients it answers: ESP8266httpUpdate / ESP32 HTTPUpdate, or Lua RTOS net.ota(). */
  profile: ReferenceServerProfile;
  /** A firmware folder (see loadCatalogue); absent: two demo releases per id. */
  directory?: string;
  host?: string;
  port?: number;
  /** HTTPS; Lua RTOS clients need `minVersion: 'TLSv1.1'`. */
  tls?: { key: string; cert: string; minVersion?: SecureVersion };
  /** The path HTTPUpdate clients ask for; default `/firmware.bin`. */
  path?: string;
  /**
   * Deliberate non-conformances, by name from the profile's list in REFERENCE_SERVER_DEFECTS, so
   * the kill matrix can prove the role-2 suites catch them. An unknown name is an error.
   */
  defects?: readonly string[];
}

export interface StartedReferenceUpdateServer {
  readonly url: string;
  /**
   * What a role-2 suite must know to play a device: for http-update the path and the newest and
   * an older version; for luartos the firmware id and its newest and an older commit.
   */
  readonly catalogue: Record<string, string>;
  stop(): Promise<void>;
}

const OCTET_STREAM = 'application/octet-stream';

/**
 * The harness' own update server, answering as the HTTPUpdate docs' server example and the Lua
 * RTOS OTA wiki say (reference/arduino-ota.md §3, reference/viperhttp-luartos-mqtt.md §2.5):
 * - HTTPUpdate: only ESP8266/ESP32 updater requests (403 otherwise); 304 when the client's
 *   `x-…-version` or `x-…-sketch-md5` is the newest release; else 200 with
 *   `application/octet-stream`, `Content-Length`, `x-MD5`; a single `Range: bytes=` honoured (206).
 * - Lua RTOS: `GET /?firmware=&commit=`; 470 when either is missing or the firmware is unknown,
 *   471 when the commit is the newest, else 200 with exactly `Content-Type` and `Content-Length`.
 * Built on node:http, which writes header names in the case given. `defects` switches on the
 * deliberate non-conformances of REFERENCE_SERVER_DEFECTS (defects.ts).
 */
export async function startReferenceUpdateServer(
  options: ReferenceUpdateServerOptions,
): Promise<StartedReferenceUpdateServer> {
  const defects = checkDefects(options);
  const catalogue = options.directory
    ? await loadCatalogue(options.directory)
    : options.profile === 'luartos'
      ? demoCatalogue(['GENERIC-OTA'])
      : demoPlatformCatalogue();
  const path = options.path ?? '/firmware.bin';
  const handler =
    options.profile === 'luartos'
      ? luaRtosHandler(catalogue, defects)
      : httpUpdateHandler(catalogue, path, defects);
  // The defect keeps the TLS library's own floor (TLS 1.2), whatever the rig asks for.
  const minVersion = defects.has('requires-tls-1-2') ? undefined : options.tls?.minVersion;
  const server = options.tls
    ? https.createServer(
        {
          key: options.tls.key,
          cert: options.tls.cert,
          ...(minVersion ? { minVersion } : {}),
          // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level.
          ...(minVersion === 'TLSv1' || minVersion === 'TLSv1.1' ? { ciphers: 'DEFAULT@SECLEVEL=0' } : {}),
        },
        handler,
      )
    : http.createServer(handler);
  if (defects.has('requires-sni')) {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!(socket as TLSSocket & { servername?: string | false }).servername) socket.destroy();
    });
  }
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new ReferenceServerError(
          'REFERENCE_SERVER_LISTEN',
          `cannot listen on ${host}:${options.port ?? 0}: ${error.message}`,
          {
            cause: error,
          },
        ),
      ),
    );
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    catalogue: describeCatalogue(options.profile, catalogue, path),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Only TLS-level defects need the server to speak TLS. */
const TLS_DEFECTS = new Set(['requires-tls-1-2', 'requires-sni']);

function checkDefects(options: ReferenceUpdateServerOptions): ReadonlySet<string> {
  const known = referenceServerDefects(options.profile).map((defect) => defect.name);
  for (const defect of options.defects ?? []) {
    if (!known.includes(defect)) {
      throw new ReferenceServerError(
        'REFERENCE_SERVER_DEFECT',
        `unknown defect '${defect}' for the ${options.profile} reference update server; known: ${known.join(', ')}`,
      );
    }
    if (TLS_DEFECTS.has(defect) && !options.tls) {
      throw new ReferenceServerError(
        'REFERENCE_SERVER_DEFECT',
        `defect '${defect}' is a TLS defect: start the ${options.profile} reference update server with tls`,
      );
    }
  }
  return new Set(options.defects ?? []);
}

function describeCatalogue(profile: string, catalogue: Catalogue, path: string): Record<string, string> {
  const [id, releases] = [...catalogue.releases.entries()][0]!;
  const latest = releases.at(-1)!;
  const older = releases.length > 1 ? releases.at(-2)! : undefined;
  if (profile === 'luartos') {
    return { firmware: id, latestCommit: latest.version, ...(older ? { olderCommit: older.version } : {}) };
  }
  return {
    path,
    latestVersion: latest.version,
    latestMd5: latest.md5,
    ...(older ? { olderVersion: older.version } : {}),
  };
}

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

function httpUpdateHandler(catalogue: Catalogue, path: string, defects: ReadonlySet<string>): Handler {
  const anyClient = defects.has('serves-any-client');
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://server');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return plain(response, 405, 'only GET and HEAD');
    const platform = updaterPlatform(request, defects);
    // The docs' server example: a request without the updater's User-Agent and headers is not an
    // ESP asking (esp8266/Arduino doc/ota_updates/readme.rst, PHP server example).
    const header = (name: string) =>
      platform === undefined
        ? undefined
        : (request.headers[`x-${platform}-${name}`.toLowerCase()] as string | undefined);
    if (!anyClient && (!platform || header('sta-mac') === undefined || header('sketch-md5') === undefined)) {
      return plain(response, 403, 'only for ESP8266/ESP32 updater');
    }
    if (url.pathname !== path) return plain(response, 404, 'no such firmware');
    const latest = releasesFor(catalogue, url.searchParams.get('firmware'), platform, defects)?.at(-1);
    if (!latest) return plain(response, 404, 'no such firmware');
    if (!defects.has('never-304') && !wantsRelease(latest, header, defects)) {
      response.writeHead(304, 'Not Modified');
      return response.end();
    }
    sendRelease(request, response, latest, {
      // The defect hashes the file name (`<version>.bin`) where the file's bytes were meant.
      md5: defects.has('x-md5-of-file-name') ? md5Hex(`${latest.version}.bin`) : latest.md5,
      ranges: !defects.has('ignores-range'),
      ...commonStyle(defects),
    });
  };
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
 * Version-targeted updates (seeds/ota-firmware-hosting-guide.md § Version-Specific Updates): 304
 * when the device runs the newest release (same version or same sketch MD5), reports a newer
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
  const free = Number(header('free-space'));
  if (!defects.has('ignores-free-space') && Number.isFinite(free) && header('free-space') !== undefined) {
    if (latest.bytes.length > free) return false;
  }
  return true;
}

const NUMERIC_VERSION = /^v?\d+(\.\d+)*$/;

/** `a` is a newer dotted-number version than `b`; versions that are not dotted numbers are never ordered. */
function isNewer(a: string, b: string): boolean {
  if (!NUMERIC_VERSION.test(a) || !NUMERIC_VERSION.test(b)) return false;
  const parts = (v: string) => v.replace(/^v/, '').split('.').map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return false;
}

function luaRtosHandler(catalogue: Catalogue, defects: ReadonlySet<string>): Handler {
  // The defect falls back to the first board it knows and takes a missing commit for an old one.
  const lenient = defects.has('200-on-bad-arguments');
  const fallback = lenient ? [...catalogue.releases.keys()][0] : undefined;
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'https://server');
    const firmware = url.searchParams.get('firmware') || fallback;
    const commit = url.searchParams.get('commit') || (lenient ? '' : undefined);
    const releases =
      firmware === undefined
        ? undefined
        : (catalogue.releases.get(firmware) ??
          (fallback === undefined ? undefined : catalogue.releases.get(fallback)));
    if (request.method !== 'GET' || url.pathname !== '/' || commit === undefined || !releases) {
      response.writeHead(470, 'Missing or Bad Arguments', ['Content-Length', '0', 'Connection', 'close']);
      return response.end();
    }
    const latest = releases.at(-1)!;
    if (commit === latest.version && !defects.has('never-471')) {
      response.writeHead(471, 'No New Firmware Available', ['Content-Length', '0', 'Connection', 'close']);
      return response.end();
    }
    sendRelease(request, response, latest, { ranges: false, ...commonStyle(defects) });
  };
}

/** How a 200 is written: what the defects change in it. */
interface ReleaseStyle {
  /** The x-MD5 value; absent: no x-MD5 (Lua RTOS checks no hash). */
  md5?: string;
  ranges: boolean;
  contentType: string;
  /** false: no Content-Length, the body ends when the connection closes (chunked to HTTP/1.1). */
  contentLength: boolean;
  lowerCaseNames: boolean;
}

function commonStyle(defects: ReadonlySet<string>): Omit<ReleaseStyle, 'md5' | 'ranges'> {
  return {
    contentType: defects.has('binary-octet-stream') ? 'binary/octet-stream' : OCTET_STREAM,
    contentLength: !defects.has('no-content-length'),
    lowerCaseNames: defects.has('lowercase-header-names'),
  };
}

function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/** 200 (or 206 for one satisfiable `bytes=` range) with the release, header names in canonical case unless a defect says otherwise. */
function sendRelease(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  release: Release,
  style: ReleaseStyle,
): void {
  const size = release.bytes.length;
  const headers: [string, string][] = [['Content-Type', style.contentType]];
  if (style.md5 !== undefined) headers.push(['x-MD5', style.md5]);
  if (style.ranges) headers.push(['Accept-Ranges', 'bytes']);
  let body = release.bytes;
  let status = 200;
  const range = style.ranges ? parseRange(request.headers.range, size) : undefined;
  if (range === 'unsatisfiable') {
    response.writeHead(
      416,
      'Range Not Satisfiable',
      [...headers, ['Content-Range', `bytes */${size}`], ['Content-Length', '0']].flat(),
    );
    return void response.end();
  }
  if (range) {
    status = 206;
    body = release.bytes.subarray(range.start, range.end + 1);
    headers.push(['Content-Range', `bytes ${range.start}-${range.end}/${size}`]);
  }
  if (style.contentLength) headers.push(['Content-Length', String(body.length)]);
  else headers.push(['Connection', 'close']);
  const named = style.lowerCaseNames
    ? headers.map(([name, value]) => [name.toLowerCase(), value] as const)
    : headers;
  response.writeHead(status, status === 206 ? 'Partial Content' : 'OK', named.flat());
  response.end(request.method === 'HEAD' ? undefined : body);
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; anything else is ignored (a full 200), as RFC 9110 allows. */
function parseRange(
  value: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = value === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return suffix === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  return end < start ? undefined : { start, end };
}

function plain(response: http.ServerResponse, status: number, text: string): void {
  response.writeHead(status, [
    'Content-Type',
    'text/plain',
    'Content-Length',
    String(Buffer.byteLength(text)),
  ]);
  response.end(text);
}
