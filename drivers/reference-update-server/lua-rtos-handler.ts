import { deviceOf } from './rollout.ts';
import { OCTET_STREAM, sendRelease } from './send-release.ts';
import { type Handler, newestFor, type ServeContext } from './serve-context.ts';

/**
 * Lua RTOS net.ota() (docs/protocols/viperhttp-luartos-mqtt.md §2.5): `GET /?firmware=&commit=`; 470
 * when either is missing or the firmware is unknown, 471 when the commit is the newest build the
 * board may have, else 200 with exactly `Content-Type` and `Content-Length` (canonical case).
 */
export function luaRtosHandler(context: ServeContext): Handler {
  const { defects } = context;
  // The defect falls back to the first board it knows and takes a missing commit for an old one.
  const lenient = defects.has('200-on-bad-arguments');
  return (request, response) => {
    // Read per request: `serve` picks up new builds without a restart.
    const { catalogue } = context;
    const fallback = lenient ? [...catalogue.releases.keys()][0] : undefined;
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
    const device = deviceOf(request, url);
    const latest = newestFor(context, releases, device)!;
    if (commit === latest.version && !defects.has('never-471')) {
      response.writeHead(471, 'No New Firmware Available', ['Content-Length', '0', 'Connection', 'close']);
      return response.end();
    }
    sendRelease(
      request,
      response,
      latest,
      {
        ranges: false,
        contentType: defects.has('binary-octet-stream') ? 'binary/octet-stream' : OCTET_STREAM,
        contentLength: !defects.has('no-content-length'),
        lowerCaseNames: defects.has('lowercase-header-names'),
      },
      context.delivery(device, response),
    );
  };
}
