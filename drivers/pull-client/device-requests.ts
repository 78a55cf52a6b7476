/** What the emulated client says about its chip and its running sketch. */
export interface HttpUpdateIdentity {
  platform: 'esp8266' | 'esp32';
  /** Request path, e.g. `/firmware.bin`. */
  path: string;
  /** `Host` value: host, plus `:port` unless it is 80 or 443. */
  host: string;
  currentVersion?: string;
  sketchMd5: string;
  sketchSize: number;
  freeSpace?: number;
  staMac?: string;
  apMac?: string;
  chipId?: number;
  chipSize?: number;
  sdkVersion?: string;
  mode?: 'sketch' | 'spiffs';
  /** Extra header lines (`Range: bytes=0-99`) after the library's own, as a `requestCB` hook adds them. */
  extra?: readonly string[];
}

/**
 * The check an ESP8266httpUpdate (docs/protocols/arduino-ota.md §3.1) or ESP32 HTTPUpdate (§3.2)
 * client sends: HTTP/1.0, its header names and order, `Content-Length: 0` on ESP8266.
 */
export function httpUpdateRequest(identity: HttpUpdateIdentity, method: 'GET' | 'HEAD' = 'GET'): string {
  const staMac =
    identity.staMac ?? (identity.platform === 'esp32' ? '24:0A:C4:A1:B2:C3' : '5C:CF:7F:A1:B2:C3');
  const apMac = identity.apMac ?? (identity.platform === 'esp32' ? '24:0A:C4:A1:B2:C4' : '5E:CF:7F:A1:B2:C3');
  const freeSpace = identity.freeSpace ?? 1_044_480;
  const chipSize = identity.chipSize ?? 4 * 1024 * 1024;
  const mode = identity.mode ?? 'sketch';
  const lines = [`${method} ${identity.path} HTTP/1.0`, `Host: ${identity.host}`];
  if (identity.platform === 'esp8266') {
    lines.push(
      'User-Agent: ESP8266-http-Update',
      'Connection: close',
      `x-ESP8266-Chip-ID: ${identity.chipId ?? 0xa1b2c3}`,
      `x-ESP8266-STA-MAC: ${staMac}`,
      `x-ESP8266-AP-MAC: ${apMac}`,
      `x-ESP8266-free-space: ${freeSpace}`,
      `x-ESP8266-sketch-size: ${identity.sketchSize}`,
      `x-ESP8266-sketch-md5: ${identity.sketchMd5}`,
      `x-ESP8266-chip-size: ${chipSize}`,
      `x-ESP8266-sdk-version: ${identity.sdkVersion ?? '2.2.2-dev(38a443e)'}`,
      `x-ESP8266-mode: ${mode}`,
    );
    if (identity.currentVersion) lines.push(`x-ESP8266-version: ${identity.currentVersion}`);
    lines.push(...(identity.extra ?? []), 'Content-Length: 0');
  } else {
    lines.push(
      'User-Agent: ESP32-http-Update',
      'Connection: close',
      'Cache-Control: no-cache',
      `x-ESP32-STA-MAC: ${staMac}`,
      `x-ESP32-AP-MAC: ${apMac}`,
      `x-ESP32-free-space: ${freeSpace}`,
      `x-ESP32-sketch-size: ${identity.sketchSize}`,
      `x-ESP32-sketch-md5: ${identity.sketchMd5}`,
      `x-ESP32-chip-size: ${chipSize}`,
      `x-ESP32-sdk-version: ${identity.sdkVersion ?? 'v4.4.7'}`,
      `x-ESP32-mode: ${mode}`,
    );
    if (identity.currentVersion) lines.push(`x-ESP32-version: ${identity.currentVersion}`);
    lines.push(...(identity.extra ?? []));
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Lua RTOS `net.ota()` (docs/protocols/viperhttp-luartos-mqtt.md §2.2): HTTP/1.1, only a Host header
 * with the port and a trailing space, query values not URL-encoded. `firmware`/`commit` left
 * undefined drop the parameter, to play a broken client.
 */
export function luaRtosRequest(options: {
  server: string;
  port: number;
  firmware?: string;
  commit?: string;
}): string {
  const query = [
    options.firmware === undefined ? undefined : `firmware=${options.firmware}`,
    options.commit === undefined ? undefined : `commit=${options.commit}`,
  ]
    .filter((part) => part !== undefined)
    .join('&');
  return `GET /?${query} HTTP/1.1\r\nHost: ${options.server}:${options.port} \r\n\r\n`;
}

/**
 * A request as ESP-IDF's esp_http_client sends it for esp_https_ota (docs/protocols/esp-idf.md §5.2):
 * HTTP/1.1, its default `User-Agent: ESP32 HTTP Client/1.0`, `Host` with the port unless it is the
 * scheme's default, no Connection header (the client keeps the connection), plus `Range` in
 * partial or resumed downloads and whatever the application adds (`extra`).
 */
export function espHttpClientRequest(options: {
  method?: 'GET' | 'HEAD';
  url: URL;
  range?: string;
  extra?: readonly string[];
}): string {
  const { url } = options;
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  const host = url.port === '' || url.port === defaultPort ? url.hostname : `${url.hostname}:${url.port}`;
  const lines = [
    `${options.method ?? 'GET'} ${url.pathname}${url.search} HTTP/1.1`,
    'User-Agent: ESP32 HTTP Client/1.0',
    `Host: ${host}`,
    ...(options.range ? [`Range: ${options.range}`] : []),
    ...(options.extra ?? []),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}
