import { headerOf, httpUpdateRequest, sendPullRequest } from '../../drivers/pull-client/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import type { Platform } from '../../vocabulary/index.ts';
import {
  authorizationLines,
  endpoint,
  hostHeader,
  isEsp32AppImage,
  md5,
  published,
  servedPlatforms,
  serverRequirement,
  serverTls,
} from './server-kit.ts';

const requirement = serverRequirement('http-update');
const SOURCE =
  'docs/protocols/arduino-ota.md §3.1 (Response handling, x-MD5) and §3.2; seeds/ota-firmware-hosting-guide.md';
/** The server example of esp8266/Arduino doc/ota_updates/readme.rst ("Server request handling", PHP). */
const DOCS_SERVER =
  'esp8266/Arduino doc/ota_updates/readme.rst, PHP server example (403 "only for ESP8266 updater!")';
const STALE = '0.0.0-ota-conformance';
/** A sketch MD5 no published image has. */
const NO_IMAGE_MD5 = '00000000000000000000000000000000';

interface Check {
  platform: Platform;
  version?: string;
  sketchMd5?: string;
  freeSpace?: number;
  extra?: string[];
}

/** The check a device of `platform` sends (arduino-ota.md §3.1/§3.2), with the rig's credentials. */
function ask(target: Target, check: Check) {
  const url = endpoint(target);
  const request = httpUpdateRequest({
    platform: check.platform,
    path: `${url.pathname}${url.search}`,
    host: hostHeader(url),
    ...(check.version === undefined ? {} : { currentVersion: check.version }),
    sketchMd5: check.sketchMd5 ?? NO_IMAGE_MD5,
    sketchSize: 300_000,
    ...(check.freeSpace === undefined ? {} : { freeSpace: check.freeSpace }),
    extra: [...authorizationLines(target), ...(check.extra ?? [])],
  });
  return sendPullRequest(url.href, request, tlsOf(target));
}

function tlsOf(target: Target) {
  return { tls: serverTls(target) };
}

const stale = (target: Target) => published(target, 'olderVersion', STALE);
/** The platform a platform-neutral requirement asks as: the first the server serves. */
const firstPlatform = (target: Target) => servedPlatforms(target)[0]!;

requirement(
  'update-server/http-update/1',
  'MUST',
  'answers 304 (no body) to a check whose x-…-version is the newest, and 200 to an older one',
  { source: `${SOURCE} — 304 → HTTP_UPDATE_NO_UPDATES` },
  async ({ target, step, check }) => {
    const platform = firstPlatform(target);
    const latest = published(target, 'latestVersion');
    const current = await step(`${platform} check as ${latest}`, () =>
      ask(target, { platform, version: latest }),
    );
    check(
      current.status === 304 && current.body.length === 0,
      '304 with no body',
      `${current.statusLine}, ${current.body.length} body bytes`,
    );
    const older = await step(`${platform} check as ${stale(target)}`, () =>
      ask(target, { platform, version: stale(target) }),
    );
    check(older.status === 200, '200 for an older version', older.statusLine);
  },
);

for (const [n, platform] of [
  [2, 'esp8266'],
  [3, 'esp32'],
] as const) {
  const library = platform === 'esp32' ? 'ESP32 HTTPUpdate' : 'ESP8266httpUpdate';
  requirement(
    `update-server/http-update/${n}`,
    'MUST',
    `answers an ${library} check with 200, Content-Length of the body, application/octet-stream, an x-MD5 that is the body's MD5, and an image for ${platform === 'esp32' ? 'an ESP32 (0xE9 and an app descriptor)' : 'an ESP8266 (0xE9 or gzip 0x1F, not an ESP32 app image)'}`,
    {
      source: `${SOURCE} — 200 step 1 (Content-Length > 0), step 5 (magic), step 7 (x-MD5); §3.2 (ESP32: 0xE9 only)`,
      platforms: [platform],
    },
    async ({ target, step, check }) => {
      const answer = await step(`${platform} check as ${stale(target)}`, () =>
        ask(target, { platform, version: stale(target) }),
      );
      check(answer.status === 200, '200', answer.statusLine);
      const length = headerOf(answer, 'content-length');
      check(
        length !== undefined && Number(length) === answer.body.length && answer.body.length > 0,
        `Content-Length: ${answer.body.length}`,
        `${length}`,
      );
      check(
        headerOf(answer, 'content-type') === 'application/octet-stream',
        'Content-Type: application/octet-stream',
        `${headerOf(answer, 'content-type')}`,
      );
      const digest = headerOf(answer, 'x-md5');
      check(digest?.toLowerCase() === md5(answer.body), `x-MD5: ${md5(answer.body)}`, `${digest}`);
      const esp32Image = isEsp32AppImage(answer.body);
      if (platform === 'esp32') {
        check(esp32Image, 'an ESP32 app image (0xE9, app descriptor at 0x20)', describeImage(answer.body));
      } else {
        check(
          (answer.body[0] === 0xe9 || answer.body[0] === 0x1f) && !esp32Image,
          'an ESP8266 image (0xE9 or gzip 0x1F), not an ESP32 app image',
          describeImage(answer.body),
        );
      }
    },
  );
}

function describeImage(bytes: Uint8Array): string {
  if (isEsp32AppImage(bytes)) return 'an ESP32 app image';
  return `${bytes.length} bytes starting 0x${(bytes[0] ?? 0).toString(16).padStart(2, '0')}`;
}

requirement(
  'update-server/http-update/4',
  'SHOULD',
  'honours a single Range request with 206, Content-Range and the matching bytes',
  { source: 'docs/protocols/esp-idf.md §5.2 step 3 (Range downloads); RFC 9110 §14', needs: ['range'] },
  async ({ target, step, check }) => {
    const platform = firstPlatform(target);
    const full = await step('the whole image', () => ask(target, { platform, version: stale(target) }));
    const part = await step('Range: bytes=16-1039', () =>
      ask(target, { platform, version: stale(target), extra: ['Range: bytes=16-1039'] }),
    );
    check(part.status === 206, '206 Partial Content', part.statusLine);
    check(
      headerOf(part, 'content-range') === `bytes 16-1039/${full.body.length}`,
      `Content-Range: bytes 16-1039/${full.body.length}`,
      `${headerOf(part, 'content-range')}`,
    );
    check(
      Buffer.compare(part.body, full.body.subarray(16, 1040)) === 0,
      'bytes 16..1039 of the image',
      `${part.body.length} bytes that differ`,
    );
  },
);

requirement(
  'update-server/http-update/5',
  'MUST',
  "answers 403 to a request without the updater's User-Agent and x-…-* headers (a browser, a crawler), and 200 to the device's check",
  { source: `${DOCS_SERVER}; docs/protocols/arduino-ota.md §3.1 (403 → -103 Forbidden)` },
  async ({ target, step, check }) => {
    const url = endpoint(target);
    const browser = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${hostHeader(url)}`,
      'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      'Accept: */*',
      ...authorizationLines(target),
      'Connection: close',
    ];
    const plain = await step('GET as a browser', () =>
      sendPullRequest(url.href, `${browser.join('\r\n')}\r\n\r\n`, tlsOf(target)),
    );
    check(plain.status === 403, '403 Forbidden', `${plain.statusLine}, ${plain.body.length} body bytes`);
    const platform = firstPlatform(target);
    const device = await step(`${platform} check as ${stale(target)}`, () =>
      ask(target, { platform, version: stale(target) }),
    );
    check(device.status === 200, "200 to the device's check", device.statusLine);
  },
);

requirement(
  'update-server/http-update/6',
  'MUST',
  'answers 403 to a check that carries every x-…-* header but a foreign User-Agent, and 200 to the same check from the updater',
  {
    source: `${DOCS_SERVER} (check_header HTTP_USER_AGENT); docs/protocols/arduino-ota.md §3.1/§3.2 (User-Agent)`,
  },
  async ({ target, step, check }) => {
    const platform = firstPlatform(target);
    const agent = platform === 'esp32' ? 'ESP32-http-Update' : 'ESP8266-http-Update';
    const url = endpoint(target);
    const genuine = httpUpdateRequest({
      platform,
      path: `${url.pathname}${url.search}`,
      host: hostHeader(url),
      currentVersion: stale(target),
      sketchMd5: NO_IMAGE_MD5,
      sketchSize: 300_000,
      extra: authorizationLines(target),
    });
    const foreign = genuine.replace(`User-Agent: ${agent}`, 'User-Agent: curl/8.5.0');
    const refused = await step('the check with User-Agent: curl/8.5.0', () =>
      sendPullRequest(url.href, foreign, tlsOf(target)),
    );
    check(refused.status === 403, '403 Forbidden', refused.statusLine);
    const accepted = await step(`the same check with User-Agent: ${agent}`, () =>
      sendPullRequest(url.href, genuine, tlsOf(target)),
    );
    check(accepted.status === 200, '200', accepted.statusLine);
  },
);

requirement(
  'update-server/http-update/7',
  'MUST',
  "answers 304 to a check without x-…-version whose x-…-sketch-md5 is the newest image's MD5, and 200 to one with another MD5",
  {
    source: `${SOURCE} — x-…-version is sent only when non-empty, so the sketch MD5 is what tells a server the device runs the newest image; ${DOCS_SERVER} (md5_file compare)`,
  },
  async ({ target, step, check }) => {
    const platform = firstPlatform(target);
    const image = await step('fetch the newest image', () =>
      ask(target, { platform, sketchMd5: NO_IMAGE_MD5 }),
    );
    check(image.status === 200, '200 to a device running another sketch', image.statusLine);
    const running = md5(image.body);
    const current = await step(`check with x-…-sketch-md5: ${running}`, () =>
      ask(target, { platform, sketchMd5: running }),
    );
    check(
      current.status === 304 && current.body.length === 0,
      '304 with no body',
      `${current.statusLine}, ${current.body.length} body bytes`,
    );
  },
);

requirement(
  'update-server/http-update/8',
  'SHOULD',
  'does not answer 200 with an image larger than the x-…-free-space the device reports, and answers 200 when it fits',
  {
    source: `${SOURCE} — 200 step 2: len > getFreeSketchSpace() → -100 Not Enough space, the download wasted`,
  },
  async ({ target, step, check }) => {
    const platform = firstPlatform(target);
    const roomy = await step('check with 4 MiB free', () =>
      ask(target, { platform, version: stale(target), freeSpace: 4 * 1024 * 1024 }),
    );
    check(roomy.status === 200, '200 when the image fits', roomy.statusLine);
    const freeSpace = Math.max(0, roomy.body.length - 4096);
    const cramped = await step(`check with ${freeSpace} bytes free`, () =>
      ask(target, { platform, version: stale(target), freeSpace }),
    );
    check(
      cramped.status !== 200,
      `no 200 for a ${roomy.body.length}-byte image into ${freeSpace} bytes (304, 403 or 404)`,
      cramped.statusLine,
    );
  },
);

requirement(
  'update-server/http-update/9',
  'SHOULD',
  'does not offer its newest image to a device that reports a newer version (no downgrade), and offers it to an older one',
  {
    source:
      'seeds/ota-firmware-hosting-guide.md § Version-Specific Updates (version_compare(current, target) < 0); docs/protocols/arduino-ota.md §3.1 (the x-ESP8266-version header it compares)',
  },
  async ({ target, step, check }) => {
    const platform = firstPlatform(target);
    const latest = published(target, 'latestVersion');
    // A dotted-number version is bumped in its first number; any other needs the rig to name one.
    const bumped = /^v?\d+(\.\d+)*$/.test(latest)
      ? latest.replace(/\d+/, (major) => String(Number(major) + 1))
      : undefined;
    const newer = published(target, 'newerVersion', bumped);
    const ahead = await step(`check as ${newer}`, () => ask(target, { platform, version: newer }));
    check(ahead.status === 304, `304 for ${newer}, newer than ${latest}`, ahead.statusLine);
    const behind = await step(`check as ${stale(target)}`, () =>
      ask(target, { platform, version: stale(target) }),
    );
    check(behind.status === 200, `200 for ${stale(target)}`, behind.statusLine);
  },
);
