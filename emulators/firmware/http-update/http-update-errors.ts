import type { Platform } from '../../device/index.ts';

/** t_httpUpdate_return: HTTP_UPDATE_FAILED=0, HTTP_UPDATE_NO_UPDATES=1, HTTP_UPDATE_OK=2. */
export const HttpUpdateResult = { FAILED: 0, NO_UPDATES: 1, OK: 2 } as const;
export type HttpUpdateResult = (typeof HttpUpdateResult)[keyof typeof HttpUpdateResult];

/** HTTP_UE_* (reference §3.1 table; -108 differs per platform, §3.2). */
export const HttpUpdateError = {
  TOO_LESS_SPACE: -100,
  SERVER_NOT_REPORT_SIZE: -101,
  SERVER_FILE_NOT_FOUND: -102,
  SERVER_FORBIDDEN: -103,
  SERVER_WRONG_HTTP_CODE: -104,
  SERVER_FAULTY_MD5: -105,
  BIN_VERIFY_HEADER_FAILED: -106,
  BIN_FOR_WRONG_FLASH: -107,
  /** ESP8266 ≥ 3.0.0: SERVER_UNAUTHORIZED; ESP32: NO_PARTITION. */
  CODE_108: -108,
} as const;

/** HTTPC_ERROR_* of the HTTPClient, negative -1 … -11. */
export const HttpClientError = {
  CONNECTION_FAILED: -1,
  SEND_HEADER_FAILED: -2,
  SEND_PAYLOAD_FAILED: -3,
  NOT_CONNECTED: -4,
  CONNECTION_LOST: -5,
  NO_STREAM: -6,
  NO_HTTP_SERVER: -7,
  TOO_LESS_RAM: -8,
  ENCODING: -9,
  STREAM_WRITE: -10,
  READ_TIMEOUT: -11,
} as const;

/** HTTPClient::errorToString(); the ESP32 client calls -1 "connection refused". */
function httpClientErrorText(platform: Platform, code: number): string {
  switch (code) {
    case HttpClientError.CONNECTION_FAILED:
      return platform === 'esp8266' ? 'connection failed' : 'connection refused';
    case HttpClientError.SEND_HEADER_FAILED:
      return 'send header failed';
    case HttpClientError.SEND_PAYLOAD_FAILED:
      return 'send payload failed';
    case HttpClientError.NOT_CONNECTED:
      return 'not connected';
    case HttpClientError.CONNECTION_LOST:
      return 'connection lost';
    case HttpClientError.NO_STREAM:
      return 'no stream';
    case HttpClientError.NO_HTTP_SERVER:
      return 'no HTTP server';
    case HttpClientError.TOO_LESS_RAM:
      return 'not enough ram';
    case HttpClientError.ENCODING:
      return 'Transfer-Encoding not supported';
    case HttpClientError.STREAM_WRITE:
      return 'Stream write error';
    case HttpClientError.READ_TIMEOUT:
      return 'read Timeout';
    default:
      return '';
  }
}

/**
 * getLastErrorString(): `Update error: <printError, trimmed>` for a positive Updater code, the
 * HTTP_UE_* text, or `HTTP error: <HTTPClient text>` for a transport failure.
 */
export function lastErrorString(platform: Platform, code: number, updaterPrintError: () => string): string {
  if (code === 0) return '';
  if (code > 0) return `Update error: ${updaterPrintError().trim()}`;
  switch (code) {
    case HttpUpdateError.TOO_LESS_SPACE:
      return 'Not Enough space';
    case HttpUpdateError.SERVER_NOT_REPORT_SIZE:
      return 'Server Did Not Report Size';
    case HttpUpdateError.SERVER_FILE_NOT_FOUND:
      return 'File Not Found (404)';
    case HttpUpdateError.SERVER_FORBIDDEN:
      return 'Forbidden (403)';
    case HttpUpdateError.SERVER_WRONG_HTTP_CODE:
      return 'Wrong HTTP Code';
    case HttpUpdateError.SERVER_FAULTY_MD5:
      return 'Wrong MD5';
    case HttpUpdateError.BIN_VERIFY_HEADER_FAILED:
      return 'Verify Bin Header Failed';
    case HttpUpdateError.BIN_FOR_WRONG_FLASH:
      return 'New Binary Does Not Fit Flash Size';
    case HttpUpdateError.CODE_108:
      return platform === 'esp8266' ? 'Unauthorized (401)' : 'Partition Could Not be Found';
    default:
      if (code >= -11) return `HTTP error: ${httpClientErrorText(platform, code)}`;
      return '';
  }
}
