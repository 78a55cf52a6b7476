import type { DefectDescriptor } from '../../emulators/device/index.ts';

/** Which clients a reference server answers; each has its own defects. */
export type ReferenceServerProfile = 'http-update' | 'luartos' | 'esp-https-ota' | 'mqtt-trigger';

const ARDUINO = 'docs/protocols/arduino-ota.md';
const LUA = 'docs/protocols/viperhttp-luartos-mqtt.md';
const IDF = 'docs/protocols/esp-idf.md';
const IMAGE = (n: number) => `update-server/esp-https-ota/${n}`;
/** Image-server requirements first to last, for a defect no download survives. */
const IMAGES = (...skip: number[]) =>
  Array.from({ length: 11 }, (_, index) => index + 1)
    .filter((n) => !skip.includes(n))
    .map(IMAGE);
const TRIGGER = (n: number) => `update-server/mqtt-trigger/${n}`;
const MQTT = 'docs/protocols/viperhttp-luartos-mqtt.md';

/**
 * Deliberate non-conformances of the reference update server, each a bug a real update server
 * has been seen to have or could easily have, so the role-2 suites can prove they catch it (the
 * kill matrix). A defect is listed under the profile whose clients it breaks: lower-case header
 * names harm Lua RTOS (strcmp) but not the Arduino HTTPClient, which compares names without case.
 */
export const REFERENCE_SERVER_DEFECTS: Readonly<Record<ReferenceServerProfile, readonly DefectDescriptor[]>> =
  {
    'http-update': [
      {
        name: 'never-304',
        breaks: [
          'update-server/http-update/1',
          'update-server/http-update/7',
          'update-server/http-update/8',
          'update-server/http-update/9',
        ],
        description: `ignores x-ESP8266-version / x-ESP32-version, the sketch MD5 and the free space and serves the newest image to every check, so a device already running it downloads and reflashes it on every poll (${ARDUINO} §3.1: 304 → HTTP_UPDATE_NO_UPDATES)`,
      },
      {
        name: 'x-md5-of-file-name',
        breaks: ['update-server/http-update/2', 'update-server/http-update/3'],
        description: `sends as x-MD5 the MD5 of the image's file name instead of its bytes (md5() where md5_file() was meant), so Update.end() fails every download with ERROR[7] MD5 mismatch (${ARDUINO} §3.1 200 step 7, §4.6)`,
      },
      {
        name: 'no-content-length',
        breaks: ['update-server/http-update/2', 'update-server/http-update/3'],
        description: `streams the image without Content-Length (the body ends when the connection closes), so the client fails with -101 Server Did Not Report Size (${ARDUINO} §3.1 200 step 1, §3.2)`,
      },
      {
        name: 'esp8266-only',
        breaks: ['update-server/http-update/3'],
        description: `knows only the ESP8266 updater: it looks for the ESP8266-http-Update agent and x-ESP8266-* headers and answers 403 to an ESP32 HTTPUpdate check, which the ESP32 reports as -103 Forbidden (${ARDUINO} §3.2 request headers)`,
      },
      {
        name: 'one-image-for-all-platforms',
        breaks: ['update-server/http-update/2'],
        description: `knows one build, the ESP32 one, and serves it to ESP8266 checks too; an ESP8266 flashes an image for another chip (${ARDUINO} §3.1 step 5 only looks at the 0xE9 magic, so nothing on the device stops it)`,
      },
      {
        name: 'serves-any-client',
        breaks: ['update-server/http-update/5', 'update-server/http-update/6'],
        description: `answers every GET with the image, whoever asks: a browser or crawler downloads the firmware, where the docs' server example answers 403 "only for ESP8266 updater!" (esp8266/Arduino doc/ota_updates/readme.rst; ${ARDUINO} §3.1: 403 → -103 Forbidden)`,
      },
      {
        name: 'ignores-user-agent',
        breaks: ['update-server/http-update/6'],
        description: `checks only that the x-ESP8266-* / x-ESP32-* headers are present, not the updater's User-Agent, so any client that copies the headers gets the image (the docs' example checks HTTP_USER_AGENT first; ${ARDUINO} §3.1/§3.2 User-Agent)`,
      },
      {
        name: 'ignores-sketch-md5',
        breaks: ['update-server/http-update/7'],
        description: `decides by x-…-version alone, so a device built without a version string (the header is then not sent, ${ARDUINO} §3.1) downloads and reflashes the image it already runs on every poll`,
      },
      {
        name: 'ignores-free-space',
        breaks: ['update-server/http-update/8'],
        description: `sends an image larger than the x-…-free-space the device reported; the client gives up with -100 Not Enough space after the server has started the transfer (${ARDUINO} §3.1 200 step 2)`,
      },
      {
        name: 'downgrades-newer-devices',
        breaks: ['update-server/http-update/9'],
        description: `offers its newest image to every device whose version differs (!= where the hosting guide's version_compare(...) < 0 was meant), so a device running a newer build is downgraded (seeds/ota-firmware-hosting-guide.md § Version-Specific Updates; ${ARDUINO} §3.1 x-ESP8266-version)`,
      },
      {
        name: 'ignores-range',
        breaks: ['update-server/http-update/4'],
        description: `ignores Range and answers every request with the whole image and 200, so a client resuming or downloading in parts gets the wrong bytes (docs/protocols/esp-idf.md §5.2 step 3; RFC 9110 §14)`,
      },
    ],
    'esp-https-ota': [
      {
        name: 'no-content-length',
        breaks: [IMAGE(1), IMAGE(8)],
        description: `streams the whole image chunked, without Content-Length (as a compressing proxy or a framework's stream does): esp_https_ota sees an image size of −1 and cannot do partial downloads, and a HEAD gives no length (${IDF} §5.6 chunked: −1, §5.2 step 3)`,
      },
      {
        name: 'ignores-range',
        breaks: [IMAGE(2), IMAGE(3), IMAGE(4), IMAGE(5), IMAGE(6), IMAGE(7)],
        description: `ignores Range and answers 200 with the whole image, as python3 -m http.server does: partial downloads and resumption get the wrong bytes (${IDF} §5.2 steps 2–3, §5.3: "Server ignored the requested Range header")`,
      },
      {
        name: 'range-past-end-416',
        breaks: [IMAGE(4)],
        description: `answers 416 to a range whose last position is the image length instead of clamping it, so esp_https_ota's last partial request (end = image_length) fails (${IDF} §5.2 step 3 quirk; RFC 9110 §14.1.2)`,
      },
      {
        name: 'no-suffix-ranges',
        breaks: [IMAGE(6)],
        description: `does not know suffix ranges (bytes=-n) and answers them with the whole image (${IDF} §5.2; RFC 9110 §14.1.2 suffix-range)`,
      },
      {
        name: 'ignores-if-none-match',
        breaks: [IMAGE(11)],
        description: `gives an ETag but answers If-None-Match with the whole image again, so a device that checks before downloading always downloads (${IDF} §5.3: 304 → ESP_ERR_HTTP_NOT_MODIFIED)`,
      },
      {
        name: 'redirects-to-http',
        // The TLS handshake itself (10) still verifies.
        breaks: IMAGES(10),
        description: `redirects every https download to its plain-HTTP origin; esp_http_client refuses the downgrade, so no device gets an image (${IDF} §5.3: ESP_ERR_HTTP_REDIRECT_DOWNGRADE)`,
      },
      {
        name: 'wrong-certificate',
        breaks: IMAGES(),
        description: `presents a certificate from a CA the devices do not pin (a renewed certificate from another issuer), so every device's handshake fails (${IDF} §5.1: cert_pem verification; hosting guide § Certificate Errors)`,
      },
    ],
    'mqtt-trigger': [
      {
        name: 'triggers-on-a-timer',
        breaks: [TRIGGER(1), TRIGGER(3)],
        description: `a cron job that republishes the trigger for the build that was newest when it started, every 100 ms, whether or not a build appeared: devices restart their update over and over, and the first trigger after a new build names the old one (${MQTT} §3.1.b: U → g_ota_requested, then a 5 s countdown and a download)`,
      },
      {
        name: 'json-trigger-on-switch-cmd',
        breaks: [TRIGGER(1)],
        description: `publishes the JSON ota_trigger on /switch/cmd instead of /switch/cmd/root; the root only parses JSON on /switch/cmd/root, so no device updates (${MQTT} §3.1.a: strstr(topic,"/switch/cmd/root") and data[0]=='{')`,
      },
      {
        name: 'retained-trigger',
        breaks: [TRIGGER(2)],
        description: `publishes the trigger retained, so the broker replays it to every device that subscribes again: each reboot after the update starts another one (${MQTT} §3.1.b: subscriptions on every connect, node_root.c 757–760)`,
      },
      {
        name: 'names-previous-build',
        breaks: [TRIGGER(3)],
        description: `announces the new build but names the previous build's URL (the trigger is composed before the upload's name is known), so devices download what they already run (${MQTT} §3.1.a: the url is what esp_https_ota fetches)`,
      },
    ],
    luartos: [
      {
        name: 'never-471',
        breaks: ['update-server/luartos/1'],
        description: `does not compare the commit with the newest build and answers 200 with the image every time, so a board running the newest firmware reflashes and restarts on every net.ota() (${LUA} §2.5: 471 = no new firmware)`,
      },
      {
        name: '200-on-bad-arguments',
        breaks: ['update-server/luartos/3'],
        description: `answers 200 instead of 470 when firmware or commit is missing or the firmware is unknown: it falls back to its first board and takes a missing commit for an old one, so a board gets another board's image (${LUA} §2.5: 470 = missing or bad arguments)`,
      },
      {
        name: 'no-content-length',
        breaks: ['update-server/luartos/2'],
        description: `sends the image chunked, without Content-Length, which net.ota() does not support: response.size stays uninitialised (${LUA} §2.3: no chunked encoding; Content-Length → response.size)`,
      },
      {
        name: 'lowercase-header-names',
        breaks: ['update-server/luartos/2'],
        description: `writes header names in lower case (content-type, content-length), as HTTP/2-minded frameworks and proxies do; net.ota() compares them with strcmp and never learns the size (${LUA} §2.3: canonical case)`,
      },
      {
        name: 'binary-octet-stream',
        breaks: ['update-server/luartos/2'],
        description: `serves the image as binary/octet-stream (an object store's default type), which net.ota() refuses with InvalidContent "expected 'application/octet-stream'" (${LUA} §2.3 Content-Type)`,
      },
      {
        name: 'requires-tls-1-2',
        breaks: [
          'update-server/luartos/1',
          'update-server/luartos/2',
          'update-server/luartos/3',
          'update-server/luartos/4',
        ],
        description: `keeps the TLS library's default floor of TLS 1.2, so the handshake of a Lua RTOS board, which speaks only TLS 1.1, fails and no request gets through (${LUA} §2.2 step 4: TLSv1_1_client_method)`,
      },
      {
        name: 'requires-sni',
        breaks: [
          'update-server/luartos/1',
          'update-server/luartos/2',
          'update-server/luartos/3',
          'update-server/luartos/4',
        ],
        description: `routes TLS connections by server name and closes one that names none, as an SNI-routed front end does; Lua RTOS never sets SNI, so no request gets through (${LUA} §2.2 step 4: no SNI)`,
      },
    ],
  };

/** The defects a reference server for these clients can be started with. */
export function referenceServerDefects(profile: ReferenceServerProfile): readonly DefectDescriptor[] {
  return REFERENCE_SERVER_DEFECTS[profile];
}
