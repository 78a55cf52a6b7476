import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureVersion } from 'node:tls';
import {
  type Catalogue,
  DEFAULT_FIRMWARE_ID,
  demoCatalogue,
  loadCatalogue,
  ReferenceServerError,
  type Release,
} from './catalogue.ts';

export interface ReferenceUpdateServerOptions {
  /** Which clients it answers: ESP8266httpUpdate / ESP32 HTTPUpdate, or Lua RTOS net.ota(). */
  profile: 'http-update' | 'luartos';
  /** A firmware folder (see loadCatalogue); absent: two demo releases per id. */
  directory?: string;
  host?: string;
  port?: number;
  /** HTTPS; Lua RTOS clients need `minVersion: 'TLSv1.1'`. */
  tls?: { key: string; cert: string; minVersion?: SecureVersion };
  /** The path HTTPUpdate clients ask for; default `/firmware.bin`. */
  path?: string;
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
 * Built on node:http, which writes header names in the case given.
 */
export async function startReferenceUpdateServer(
  options: ReferenceUpdateServerOptions,
): Promise<StartedReferenceUpdateServer> {
  const catalogue = options.directory
    ? await loadCatalogue(options.directory)
    : demoCatalogue(options.profile === 'luartos' ? ['GENERIC-OTA'] : [DEFAULT_FIRMWARE_ID]);
  const path = options.path ?? '/firmware.bin';
  const handler =
    options.profile === 'luartos' ? luaRtosHandler(catalogue) : httpUpdateHandler(catalogue, path);
  const server = options.tls
    ? https.createServer(
        {
          key: options.tls.key,
          cert: options.tls.cert,
          ...(options.tls.minVersion ? { minVersion: options.tls.minVersion } : {}),
          // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level.
          ...(options.tls.minVersion === 'TLSv1' || options.tls.minVersion === 'TLSv1.1'
            ? { ciphers: 'DEFAULT@SECLEVEL=0' }
            : {}),
        },
        handler,
      )
    : http.createServer(handler);
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

function httpUpdateHandler(catalogue: Catalogue, path: string): Handler {
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://server');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return plain(response, 405, 'only GET and HEAD');
    const agent = request.headers['user-agent'] ?? '';
    const platform =
      agent === 'ESP8266-http-Update' ? 'esp8266' : agent === 'ESP32-http-Update' ? 'esp32' : undefined;
    // The docs' server example: a request without the updater's headers is not an ESP asking.
    const header = (name: string) =>
      request.headers[`x-${platform}-${name}`.toLowerCase()] as string | undefined;
    if (!platform || header('sta-mac') === undefined || header('sketch-md5') === undefined) {
      return plain(response, 403, 'only for ESP8266/ESP32 updater');
    }
    if (url.pathname !== path) return plain(response, 404, 'no such firmware');
    const releases = catalogue.releases.get(url.searchParams.get('firmware') ?? DEFAULT_FIRMWARE_ID);
    const latest = releases?.at(-1);
    if (!latest) return plain(response, 404, 'no such firmware');
    if (header('version') === latest.version || header('sketch-md5')?.toLowerCase() === latest.md5) {
      response.writeHead(304, 'Not Modified');
      return response.end();
    }
    sendRelease(request, response, latest, { md5: true, ranges: true });
  };
}

function luaRtosHandler(catalogue: Catalogue): Handler {
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'https://server');
    const firmware = url.searchParams.get('firmware');
    const commit = url.searchParams.get('commit');
    const releases = firmware ? catalogue.releases.get(firmware) : undefined;
    if (request.method !== 'GET' || url.pathname !== '/' || !firmware || !commit || !releases) {
      response.writeHead(470, 'Missing or Bad Arguments', ['Content-Length', '0', 'Connection', 'close']);
      return response.end();
    }
    const latest = releases.at(-1)!;
    if (commit === latest.version) {
      response.writeHead(471, 'No New Firmware Available', ['Content-Length', '0', 'Connection', 'close']);
      return response.end();
    }
    sendRelease(request, response, latest, { md5: false, ranges: false });
  };
}

/** 200 (or 206 for one satisfiable `bytes=` range) with the release, header names in canonical case. */
function sendRelease(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  release: Release,
  options: { md5: boolean; ranges: boolean },
): void {
  const size = release.bytes.length;
  const headers: [string, string][] = [['Content-Type', OCTET_STREAM]];
  if (options.md5) headers.push(['x-MD5', release.md5]);
  if (options.ranges) headers.push(['Accept-Ranges', 'bytes']);
  let body = release.bytes;
  let status = 200;
  const range = options.ranges ? parseRange(request.headers.range, size) : undefined;
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
  headers.push(['Content-Length', String(body.length)]);
  response.writeHead(status, status === 206 ? 'Partial Content' : 'OK', headers.flat());
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
