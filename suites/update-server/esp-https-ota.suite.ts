import tls from 'node:tls';
import {
  espHttpClientRequest,
  headerOf,
  type PullResponse,
  sendPullRequest,
} from '../../drivers/pull-client/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { type RequirementContext, RigFailure } from '../framework/index.ts';
import {
  authorizationLines,
  endpoint,
  isEsp32AppImage,
  pinnedCertificate,
  serverRequirement,
  serverTls,
} from './server-kit.ts';

/*
 * An image server for ESP-IDF's esp_https_ota (an nginx, a CDN, an object store): the harness asks
 * exactly as esp_http_client does (docs/protocols/esp-idf.md §5.2–§5.6) and judges the answers.
 */
const requirement = serverRequirement('esp-https-ota');
const IDF = 'docs/protocols/esp-idf.md';
/** esp_http_client's default `max_redirection_count` (§5.1: esp_http_client.c L173-175). */
const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Ask {
  method?: 'GET' | 'HEAD';
  range?: string;
  extra?: string[];
  url?: URL;
  /** Follow redirects as esp_http_client does (default); false returns the first answer. */
  follow?: boolean;
}

/** One request as esp_http_client sends it, following redirects (with the same Range) up to its limit. */
async function ask(target: Target, options: Ask): Promise<PullResponse> {
  let url = options.url ?? endpoint(target);
  for (let hops = 0; ; hops++) {
    const request = espHttpClientRequest({
      url,
      ...(options.method ? { method: options.method } : {}),
      ...(options.range ? { range: options.range } : {}),
      extra: [...authorizationLines(target), ...(options.extra ?? [])],
    });
    const answer = await sendPullRequest(url.href, request, {
      tls: serverTls(target),
      timeoutMs: target.stepTimeoutMs * 4,
    });
    const location = headerOf(answer, 'location');
    if (options.follow === false || !REDIRECTS.has(answer.status) || !location || hops === MAX_REDIRECTS)
      return answer;
    const next = new URL(location, url);
    if (url.protocol === 'https:' && next.protocol === 'http:') return answer;
    url = next;
  }
}

/** The whole image, which every Range check compares against. */
/**
 * The whole image, which every Range check compares against. A server that does not give it fails
 * the requirement: a device could not download from it either.
 */
async function wholeImage(target: Target, { step, check }: Pick<RequirementContext, 'step' | 'check'>) {
  const full = await step('GET the image', () => ask(target, {}));
  check(
    full.status === 200 && full.body.length > 0,
    '200 with the image (the whole image the ranges are compared with)',
    `${full.statusLine}, ${full.body.length} bytes`,
  );
  return full.body;
}

/**
 * Asks one Range and checks the answer is 206 with its Content-Range and exactly bytes
 * start..end of the image.
 */
async function askPart(
  target: Target,
  { step, check }: Pick<RequirementContext, 'step' | 'check'>,
  image: Buffer,
  range: string,
  start: number,
  end: number,
): Promise<void> {
  const part = await step(`Range: ${range}`, () => ask(target, { range }));
  const count = end - start + 1;
  const expected = `bytes ${start}-${end}/${image.length}`;
  check(
    part.status === 206 && headerOf(part, 'content-range') === expected,
    `206, Content-Range: ${expected}, ${count} byte${count === 1 ? '' : 's'}`,
    contentRange(part),
  );
  check(
    Buffer.compare(part.body, image.subarray(start, end + 1)) === 0,
    `bytes ${start}..${end} of the image`,
    `${part.body.length} bytes that differ`,
  );
}

function contentRange(answer: PullResponse): string {
  return `${answer.statusLine}, Content-Range: ${headerOf(answer, 'content-range')}, ${answer.body.length} bytes`;
}

requirement(
  'update-server/esp-https-ota/1',
  'MUST',
  'answers GET with 200, a Content-Length equal to the body, and an ESP32 app image (0xE9, app descriptor at 0x20)',
  {
    source: `${IDF} §5.4 (1024-byte header, descriptor magic), §5.6 (complete = data_process == content_length; chunked: image size −1)`,
  },
  async ({ target, step, check }) => {
    const answer = await step(`GET ${endpoint(target).pathname}`, () => ask(target, {}));
    check(answer.status === 200, '200', answer.statusLine);
    const length = headerOf(answer, 'content-length');
    check(
      length !== undefined && Number(length) === answer.body.length && answer.body.length > 0,
      `Content-Length: ${answer.body.length}`,
      `${length ?? 'no Content-Length'}${headerOf(answer, 'transfer-encoding') ? `, Transfer-Encoding: ${headerOf(answer, 'transfer-encoding')}` : ''}`,
    );
    check(
      isEsp32AppImage(answer.body),
      'an ESP32 app image',
      `${answer.body.length} bytes starting 0x${(answer.body[0] ?? 0).toString(16)}`,
    );
  },
);

requirement(
  'update-server/esp-https-ota/2',
  'MUST',
  'answers the length probe "Range: bytes=0-0" with 206, "Content-Range: bytes 0-0/<size>" and the first byte',
  {
    source: `${IDF} §5.2 step 3 (HEAD refused → GET bytes=0-0, length from Content-Range)`,
    needs: ['range'],
  },
  async ({ target, step, check }) => {
    const image = await wholeImage(target, { step, check });
    await askPart(target, { step, check }, image, 'bytes=0-0', 0, 0);
  },
);

requirement(
  'update-server/esp-https-ota/3',
  'MUST',
  'answers "Range: bytes=a-b" inside the image with 206, its Content-Range and exactly those bytes',
  {
    source: `${IDF} §5.5 (partial mode: bytes=<n>-<n+max-1>); RFC 9110 §14.1.2 https://www.rfc-editor.org/rfc/rfc9110#section-14.1.2`,
    needs: ['range'],
  },
  async ({ target, step, check }) => {
    const image = await wholeImage(target, { step, check });
    const start = Math.min(1024, image.length - 2);
    const end = Math.min(start + 16 * 1024 - 1, image.length - 2);
    await askPart(target, { step, check }, image, `bytes=${start}-${end}`, start, end);
  },
);

requirement(
  'update-server/esp-https-ota/4',
  'MUST',
  'answers a range whose end is the image length (one past the last byte, as esp_https_ota asks for the rest) with 206 and the bytes up to the last',
  {
    source: `${IDF} §5.2 step 3 quirk (end = image_length, L468-484); RFC 9110 §14.1.2 https://www.rfc-editor.org/rfc/rfc9110#section-14.1.2 (last-pos ≥ length is clamped)`,
    needs: ['range'],
  },
  async ({ target, step, check }) => {
    const image = await wholeImage(target, { step, check });
    const start = Math.max(0, image.length - 4096);
    await askPart(target, { step, check }, image, `bytes=${start}-${image.length}`, start, image.length - 1);
  },
);

requirement(
  'update-server/esp-https-ota/5',
  'MUST',
  'answers an open range "bytes=n-" (resumption, the last partial request) with 206 and the rest of the image',
  {
    source: `${IDF} §5.2 step 2 (ota_resumption: bytes=<n>-), §5.5 (last chunk bytes=<n>-)`,
    needs: ['range'],
  },
  async ({ target, step, check }) => {
    const image = await wholeImage(target, { step, check });
    const start = Math.floor(image.length / 2);
    await askPart(target, { step, check }, image, `bytes=${start}-`, start, image.length - 1);
  },
);

requirement(
  'update-server/esp-https-ota/6',
  'SHOULD',
  'answers a suffix range "bytes=-n" with 206 and the last n bytes',
  {
    source:
      'RFC 9110 §14.1.2 https://www.rfc-editor.org/rfc/rfc9110#section-14.1.2 (suffix-range); a resuming or verifying client may read the appended SHA-256 this way',
    needs: ['range'],
  },
  async ({ target, step, check }) => {
    const image = await wholeImage(target, { step, check });
    await askPart(target, { step, check }, image, 'bytes=-32', image.length - 32, image.length - 1);
  },
);

requirement(
  'update-server/esp-https-ota/7',
  'SHOULD',
  'answers a range that starts past the end with 416 and "Content-Range: bytes */<size>"',
  {
    source: `${IDF} §5.3 (416 → ESP_ERR_HTTP_RANGE_NOT_SATISFIABLE), §5.2 step 7 (resumption falls back to a fresh download)`,
    needs: ['range'],
  },
  async ({ target, step, check }) => {
    const image = await wholeImage(target, { step, check });
    const past = await step(`Range: bytes=${image.length}-`, () =>
      ask(target, { range: `bytes=${image.length}-` }),
    );
    check(
      past.status === 416 && headerOf(past, 'content-range') === `bytes */${image.length}`,
      `416, Content-Range: bytes */${image.length}`,
      contentRange(past),
    );
  },
);

requirement(
  'update-server/esp-https-ota/8',
  'SHOULD',
  "answers HEAD with 200, the image's Content-Length and no body",
  { source: `${IDF} §5.2 step 3 (partial download asks HEAD first; 200 gives the length)`, needs: ['range'] },
  async ({ target, step, check }) => {
    const image = await wholeImage(target, { step, check });
    const head = await step('HEAD', () => ask(target, { method: 'HEAD' }));
    check(
      head.status === 200 &&
        headerOf(head, 'content-length') === String(image.length) &&
        head.body.length === 0,
      `200, Content-Length: ${image.length}, no body`,
      `${head.statusLine}, Content-Length: ${headerOf(head, 'content-length')}, ${head.body.length} body bytes`,
    );
  },
);

requirement(
  'update-server/esp-https-ota/9',
  'MUST',
  `reaches the image in at most ${MAX_REDIRECTS} redirects, none from https to http`,
  {
    source: `${IDF} §5.1 (max_redirection_count 10), §5.3 (301/302/303/307/308 followed; https → http is ESP_ERR_HTTP_REDIRECT_DOWNGRADE)`,
  },
  async ({ target, step, check }) => {
    let url = endpoint(target);
    const hops: string[] = [];
    for (;;) {
      const at = url;
      const answer = await step(`GET ${at.href}`, () => ask(target, { url: at, follow: false }));
      if (!REDIRECTS.has(answer.status)) {
        check(
          answer.status === 200,
          `200 with the image after ${hops.length} redirects`,
          `${answer.statusLine} at ${at.href}`,
        );
        return;
      }
      const location = headerOf(answer, 'location');
      check(location !== undefined, `a Location with ${answer.status}`, answer.headerLines.join(' | '));
      const next = new URL(location!, at);
      hops.push(`${answer.status} → ${next.href}`);
      check(
        !(at.protocol === 'https:' && next.protocol === 'http:'),
        'no redirect from https to http',
        hops.join(', '),
      );
      check(
        hops.length <= MAX_REDIRECTS,
        `at most ${MAX_REDIRECTS} redirects`,
        `${hops.length}: ${hops.slice(0, 3).join(', ')}, …`,
      );
      url = next;
    }
  },
);

requirement(
  'update-server/esp-https-ota/10',
  'MUST',
  "presents a certificate that verifies against the one the devices pin (the rig's tls.caFile) for the URL's host name",
  {
    source: `${IDF} §5.1 (ESP_HTTPS_OTA_ALLOW_HTTP n: cert_pem or a bundle is required); seeds/ota-firmware-hosting-guide.md § Certificate Verification`,
    needs: ['tls'],
  },
  async ({ target, step, check }) => {
    const url = endpoint(target);
    if (url.protocol !== 'https:')
      throw new RigFailure(`target ${target.name} claims tls but its url is ${url.protocol}`);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const outcome = await step(
      `TLS handshake pinned to ${target.description.tls?.caFile}`,
      () =>
        new Promise<string>((resolve) => {
          const socket = tls.connect({
            host,
            port: Number(url.port || 443),
            ca: pinnedCertificate(target),
            ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
            ...(target.description.tls?.minVersion ? { minVersion: target.description.tls.minVersion } : {}),
          });
          socket.once('secureConnect', () => {
            socket.destroy();
            resolve('verified');
          });
          socket.once('error', (error) =>
            resolve(`${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`.trim()),
          );
        }),
    );
    check(outcome === 'verified', 'a verified handshake', outcome);
  },
);

requirement(
  'update-server/esp-https-ota/11',
  'SHOULD',
  'gives an ETag and answers If-None-Match with it by 304 and no body, and another tag by 200',
  {
    source: `${IDF} §5.2 step 3 and §5.3 (304 → ESP_ERR_HTTP_NOT_MODIFIED: the device skips the download); RFC 9110 §13.1.2`,
    needs: ['etag'],
  },
  async ({ target, step, check }) => {
    const first = await step('GET the image', () => ask(target, {}));
    const etag = headerOf(first, 'etag');
    check(
      first.status === 200 && etag !== undefined,
      '200 with an ETag',
      `${first.statusLine}, ETag: ${etag}`,
    );
    const same = await step(`If-None-Match: ${etag}`, () =>
      ask(target, { extra: [`If-None-Match: ${etag}`] }),
    );
    check(
      same.status === 304 && same.body.length === 0,
      '304 with no body',
      `${same.statusLine}, ${same.body.length} body bytes`,
    );
    const other = await step('If-None-Match: "ota-conformance-other"', () =>
      ask(target, { extra: ['If-None-Match: "ota-conformance-other"'] }),
    );
    check(other.status === 200, '200 for another tag', other.statusLine);
  },
);
