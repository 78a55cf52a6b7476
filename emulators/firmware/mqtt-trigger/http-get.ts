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
 * A response body as the firmware reads it: pieces of at most `size` bytes (its read buffer),
 * whatever sizes the socket delivered, so what it takes per read is what the chip takes.
 */
export async function* bodyReads(body: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    for (let offset = 0; offset < chunk.length; offset += size) yield chunk.subarray(offset, offset + size);
  }
}
