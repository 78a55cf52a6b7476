import { type Catalogue, DEFAULT_FIRMWARE_ID, type Release } from './catalogue.ts';
import { deviceOf } from './rollout.ts';
import { OCTET_STREAM, plain, sendRelease } from './send-release.ts';
import { type Handler, newestFor, type ServeContext } from './serve-context.ts';

/**
 * An image server for ESP-IDF's esp_https_ota, as the hosting guide sets nginx up
 * (seeds/ota-firmware-hosting-guide.md § Using Nginx; docs/protocols/esp-idf.md §5.2–§5.6): the newest
 * image the device may have at the configured path, every kept version at `/<version>.bin` and
 * `/<firmware-id>/<version>.bin` (§ Keep Old Versions), HEAD, one Range per request (206, 416,
 * an end past the last byte clamped), and an ETag that If-None-Match answers with 304.
 */
export function imageHandler(context: ServeContext, options: { insecureRedirectTo?: string } = {}): Handler {
  const { defects } = context;
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://server');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return plain(response, 405, 'only GET and HEAD');
    if (options.insecureRedirectTo !== undefined) {
      // The defect: a front end that sends every download to its plain-HTTP origin.
      response.writeHead(301, [
        'Location',
        `${options.insecureRedirectTo}${url.pathname}${url.search}`,
        'Content-Length',
        '0',
      ]);
      return response.end();
    }
    const device = deviceOf(request, url);
    const release = releaseAt(context, url.pathname, device);
    if (!release) return plain(response, 404, 'no such image');
    sendRelease(
      request,
      response,
      release,
      {
        ranges: !defects.has('ignores-range'),
        suffixRanges: !defects.has('no-suffix-ranges'),
        refusesEndPastLast: defects.has('range-past-end-416'),
        etag: `"${release.sha256.slice(0, 32)}"`,
        honoursIfNoneMatch: !defects.has('ignores-if-none-match'),
        contentType: OCTET_STREAM,
        contentLength: !defects.has('no-content-length'),
        lowerCaseNames: false,
      },
      context.delivery(device, response),
    );
  };
}

function releaseAt(context: ServeContext, pathname: string, device: string): Release | undefined {
  const { catalogue } = context;
  if (pathname === context.path) {
    const releases = catalogue.releases.get(DEFAULT_FIRMWARE_ID) ?? [...catalogue.releases.values()][0];
    return releases && newestFor(context, releases, device);
  }
  const match = /^\/(?:([^/]+)\/)?([^/]+)\.bin$/.exec(pathname);
  if (!match) return undefined;
  const [, id = DEFAULT_FIRMWARE_ID, version] = match;
  return findVersion(catalogue, decodeURIComponent(id), decodeURIComponent(version!));
}

function findVersion(catalogue: Catalogue, id: string, version: string): Release | undefined {
  return catalogue.releases.get(id)?.find((release) => release.version === version);
}
