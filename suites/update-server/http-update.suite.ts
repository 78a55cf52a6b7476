import { headerOf, httpUpdateRequest, sendPullRequest } from '../../drivers/pull-client/index.ts';
import { hostHeader, md5, published, serverRequirement, serverUrl } from './server-kit.ts';

const requirement = serverRequirement('http-update');
const SOURCE =
  'reference/arduino-ota.md §3.1 (Response handling, x-MD5) and §3.2; seeds/ota-firmware-hosting-guide.md';
const STALE = '0.0.0-ota-conformance';

function check8266(
  url: URL,
  version: string,
  extra: string[] = [],
  platform: 'esp8266' | 'esp32' = 'esp8266',
) {
  return httpUpdateRequest({
    platform,
    path: url.pathname,
    host: hostHeader(url),
    currentVersion: version,
    sketchMd5: '00000000000000000000000000000000',
    sketchSize: 300_000,
    extra,
  });
}

function endpoint(target: Parameters<Parameters<typeof requirement>[4]>[0]['target']): URL {
  return new URL(published(target, 'path', '/firmware.bin'), serverUrl(target));
}

requirement(
  'update-server/http-update/1',
  'MUST',
  'answers 304 (no body) to a check whose x-ESP8266-version is the newest, and 200 to an older one',
  { source: `${SOURCE} — 304 → HTTP_UPDATE_NO_UPDATES` },
  async ({ target, step, check }) => {
    const url = endpoint(target);
    const latest = published(target, 'latestVersion');
    const current = await step(`check as ${latest}`, () => sendPullRequest(url.href, check8266(url, latest)));
    check(
      current.status === 304 && current.body.length === 0,
      '304 with no body',
      `${current.statusLine}, ${current.body.length} body bytes`,
    );
    const older = await step(`check as ${STALE}`, () =>
      sendPullRequest(url.href, check8266(url, published(target, 'olderVersion', STALE))),
    );
    check(older.status === 200, '200 for an older version', older.statusLine);
  },
);

for (const [n, platform] of [
  [2, 'esp8266'],
  [3, 'esp32'],
] as const) {
  requirement(
    `update-server/http-update/${n}`,
    'MUST',
    `answers an ${platform === 'esp32' ? 'ESP32 HTTPUpdate' : 'ESP8266httpUpdate'} check with 200, Content-Length of the body, application/octet-stream and an x-MD5 that is the body's MD5`,
    { source: `${SOURCE} — 200 step 1 (Content-Length > 0), step 7 (x-MD5)` },
    async ({ target, step, check }) => {
      const url = endpoint(target);
      const answer = await step(`${platform} check as ${STALE}`, () =>
        sendPullRequest(url.href, check8266(url, published(target, 'olderVersion', STALE), [], platform)),
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
      check(
        answer.body[0] === 0xe9 || answer.body[0] === 0x1f,
        'an image that starts with 0xE9 (or 0x1F gzip)',
        `first byte ${answer.body[0]}`,
      );
    },
  );
}

requirement(
  'update-server/http-update/4',
  'SHOULD',
  'honours a single Range request with 206, Content-Range and the matching bytes',
  { source: 'reference/esp-idf.md §5.2 step 3 (Range downloads); RFC 9110 §14', needs: ['range'] },
  async ({ target, step, check }) => {
    const url = endpoint(target);
    const stale = published(target, 'olderVersion', STALE);
    const full = await step('the whole image', () => sendPullRequest(url.href, check8266(url, stale)));
    const part = await step('Range: bytes=16-1039', () =>
      sendPullRequest(url.href, check8266(url, stale, ['Range: bytes=16-1039'])),
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
