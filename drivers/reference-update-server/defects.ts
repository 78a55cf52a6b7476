import type { DefectDescriptor } from '../../emulators/device/index.ts';

/** Which clients a reference server answers; each has its own defects. */
export type ReferenceServerProfile = 'http-update' | 'luartos';

const ARDUINO = 'reference/arduino-ota.md';
const LUA = 'reference/viperhttp-luartos-mqtt.md';

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
        breaks: ['update-server/http-update/1'],
        description: `ignores x-ESP8266-version / x-ESP32-version and the sketch MD5 and serves the newest image to every check, so a device already running it downloads and reflashes it on every poll (${ARDUINO} §3.1: 304 → HTTP_UPDATE_NO_UPDATES)`,
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
        name: 'ignores-range',
        breaks: ['update-server/http-update/4'],
        description: `ignores Range and answers every request with the whole image and 200, so a client resuming or downloading in parts gets the wrong bytes (reference/esp-idf.md §5.2 step 3; RFC 9110 §14)`,
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
