import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** A transport failure before any status line (ESP8266HTTPClient's negative codes). */
export class HttpTransportError extends Error {
  readonly code = 'HTTP_TRANSPORT';
  constructor(
    /** HTTPC_ERROR_*: -1 connection failed, -11 read timeout. */
    readonly httpcError: number,
    message: string,
  ) {
    super(message);
  }
}

export const HTTPC_ERROR_CONNECTION_FAILED = -1;
export const HTTPC_ERROR_READ_TIMEOUT = -11;

/**
 * One GET as the chip's HTTP client sends it; resolves with the response head while the body is
 * still streaming, so the caller writes it to flash as it arrives.
 */
export function httpGet(
  url: URL,
  headers: Record<string, string>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // One connection per GET (no pooled socket outlives the boot), ended by hand when the boot
    // ends: a power cut must not leave an AbortError on a stream nobody reads any more.
    const req = request(url, { method: 'GET', headers, agent: false, timeout: timeoutMs }, (response) => {
      response.on('error', () => {});
      resolve(response);
    });
    const abort = () => req.destroy();
    if (signal.aborted) abort();
    else {
      signal.addEventListener('abort', abort, { once: true });
      req.on('close', () => signal.removeEventListener('abort', abort));
    }
    req.on('timeout', () => {
      req.destroy(new HttpTransportError(HTTPC_ERROR_READ_TIMEOUT, 'read Timeout'));
    });
    req.on('error', (error) => {
      reject(
        error instanceof HttpTransportError
          ? error
          : new HttpTransportError(HTTPC_ERROR_CONNECTION_FAILED, 'connection failed'),
      );
    });
    req.end();
  });
}

/**
 * A response body as the firmware reads it: full buffers of `size` bytes, whatever sizes the
 * socket delivered, and the rest at the end. Both readers fill their buffer before they return:
 * esp_http_client_read reads the transport until `need_read` is 0 or the body is over
 * (esp-idf components/esp_http_client/esp_http_client.c, esp_http_client_read), and the Arduino
 * Updater's writeStream reads with Stream::readBytes, which waits for the whole count or its
 * timeout. So the firmware's writes, and the flash operations a power-cut campaign numbers, do not
 * depend on how TCP cut the body. When the body fails, what was read before it is still handed
 * over (esp_http_client_read returns the bytes it has before it reports the error).
 */
export async function* bodyReads(body: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  const gathered = () => {
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
    parts = [];
    have = 0;
    return bytes;
  };
  try {
    for await (const chunk of body) {
      let offset = 0;
      while (offset < chunk.length) {
        const taken = Math.min(size - have, chunk.length - offset);
        parts.push(chunk.subarray(offset, offset + taken));
        have += taken;
        offset += taken;
        if (have === size) yield gathered();
      }
    }
  } catch (error) {
    if (have > 0) yield gathered();
    throw error;
  }
  if (have > 0) yield gathered();
}
