import { request } from 'node:http';
import { RigFailure, requirement } from '../framework/index.ts';
import { credentialsOf } from './web-update-device.ts';

const SOURCE =
  'docs/protocols/arduino-ota.md §2.1 (esp8266/Arduino ESP8266HTTPUpdateServer-impl.h L62‑81 @f946290: the OPTIONS handler and the POST handler send Access-Control-Allow-Headers/Origin, the POST handler before its authentication check)';
const CORS_HEADERS = ['access-control-allow-origin', 'access-control-allow-headers'] as const;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

function exchange(url: URL, method: string, body?: Buffer, contentType?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          ...(body ? { 'content-length': String(body.length), 'content-type': contentType ?? '' } : {}),
          connection: 'close',
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function corsOf(answer: Answer): string {
  return CORS_HEADERS.map((name) => `${name}: ${String(answer.headers[name] ?? '(none)')}`).join(', ');
}

requirement(
  'web-update/cors/1',
  'SHOULD',
  'a device that answers the CORS preflight on the update path also sends its CORS headers with the 401 to an unauthenticated upload, so a browser page can read the refusal',
  { source: SOURCE, needs: [] },
  async ({ target, step, check }) => {
    credentialsOf(target); // a rig error without them: there is no 401 to look at
    const base = target.description.url;
    if (!base) throw new RigFailure(`target ${target.name}: the rig gives no url`);
    // The same path the web-update client posts to: the rig's url plus /update.
    const url = new URL(`${base.replace(/\/$/, '')}/update`);
    const path = url.pathname;
    const preflight = await step(`OPTIONS ${path}`, () => exchange(url, 'OPTIONS'));
    const offersCors = CORS_HEADERS.every((name) => preflight.headers[name] !== undefined);
    const boundary = 'ota-conformance-cors';
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="firmware"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n${'\u00e9'.repeat(8)}\r\n--${boundary}--\r\n`,
      'latin1',
    );
    const refused = await step(`POST ${path} without credentials`, () =>
      exchange(url, 'POST', body, `multipart/form-data; boundary=${boundary}`),
    );
    check(
      refused.status === 401,
      'the upload without credentials is refused with 401',
      `HTTP ${refused.status}`,
    );
    if (!offersCors) return;
    check(
      CORS_HEADERS.every((name) => refused.headers[name] === preflight.headers[name]),
      `the 401 carries the preflight's CORS headers (${corsOf(preflight)})`,
      corsOf(refused),
    );
  },
);
