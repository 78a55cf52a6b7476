import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkServerIdentity, createSecureContext, type SecureContext } from 'node:tls';

/** What `esp_http_client` is configured with (the fields this firmware uses). */
export interface HttpClientConfig {
  /** `cert_pem`: the CA the server's chain must end in. */
  caPem: string;
  /** `skip_cert_common_name_check`: accept a certificate issued for another host name. */
  skipCertCommonNameCheck: boolean;
  /** `timeout_ms`: how long one network wait may last. */
  timeoutMs: number;
  signal: AbortSignal;
}

/** Why opening a request failed, as esp_http_client reports it. */
export class HttpConnectError extends Error {
  constructor(
    readonly code: 'ESP_ERR_HTTP_CONNECT' | 'ESP_ERR_HTTP_FETCH_HEADER',
    message: string,
  ) {
    super(message);
  }
}

/** One `esp_http_client_read`: bytes, the clean end of the body, a read timeout (EAGAIN) or a broken connection. */
export type BodyRead =
  | { kind: 'data'; bytes: Buffer }
  | { kind: 'end' }
  | { kind: 'timeout' }
  | { kind: 'broken' };

/** The socket is paused while more than this is queued and no read waits for more. */
const PAUSE_ABOVE_BYTES = 64 * 1024;

/**
 * One HTTP exchange as esp_http_client sees it after `open` + `fetch_headers`: the status, the
 * headers, and a body read in caller-sized pieces. Node does the TLS and HTTP/1.1 framing
 * (Content-Length, chunked, close-delimited); this class adds the chip's reading discipline.
 */
export class HttpExchange {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private broken = false;
  private wake: (() => void) | undefined;
  private bytesRead = 0;
  /** What the read in progress waits to fill: the socket is not paused below it. */
  private wanted = 0;

  constructor(
    private readonly request: ClientRequest,
    private readonly response: IncomingMessage,
    private readonly timeoutMs: number,
  ) {
    response.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      // Back-pressure: the chip reads at flash speed; do not let the socket run ahead unbounded.
      if (this.queued > Math.max(PAUSE_ABOVE_BYTES, this.wanted)) response.pause();
      this.notify();
    });
    response.on('end', () => {
      this.ended = true;
      this.notify();
    });
    response.on('close', () => {
      if (!response.complete) this.broken = true;
      this.ended = true;
      this.notify();
    });
    response.on('error', () => {
      this.broken = true;
      this.notify();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.response.headers;
  }

  /** Content-Length of this response, or undefined (chunked or close-delimited). */
  get contentLength(): number | undefined {
    const value = this.response.headers['content-length'];
    return value === undefined ? undefined : Number.parseInt(value, 10);
  }

  get isChunked(): boolean {
    return /chunked/i.test(this.response.headers['transfer-encoding'] ?? '');
  }

  /** Body bytes handed to the caller so far (`data_process`). */
  get received(): number {
    return this.bytesRead;
  }

  /** `esp_http_client_is_complete_data_received`. */
  get complete(): boolean {
    const length = this.contentLength;
    if (length !== undefined) return this.bytesRead === length;
    return this.ended && !this.broken && this.queued === 0;
  }

  /**
   * One `esp_http_client_read(buffer, maximum)`: it goes on reading the transport until the buffer
   * is full or the body is over (`while (need_read > 0 && is_data_remain)`), so every read but the
   * last of a body is a full buffer whatever sizes the network delivered; a transport read that
   * waits `timeout_ms` in vain, or a broken connection, returns what the buffer holds so far, and
   * EAGAIN or -1 only when it holds nothing (esp-idf components/esp_http_client/esp_http_client.c,
   * esp_http_client_read, v5.x). The esp_ota_write calls, and so the flash operations, of an
   * update therefore do not depend on how TCP cut the body.
   */
  async read(maximum: number): Promise<BodyRead> {
    this.wanted = maximum;
    try {
      for (;;) {
        if (this.queued >= maximum) return { kind: 'data', bytes: this.take(maximum) };
        if (this.ended || this.broken) {
          if (this.queued > 0) return { kind: 'data', bytes: this.take(this.queued) };
          return { kind: this.broken ? 'broken' : 'end' };
        }
        if (this.response.isPaused()) this.response.resume();
        const woke = await this.waitForEvent();
        if (!woke)
          return this.queued > 0 ? { kind: 'data', bytes: this.take(this.queued) } : { kind: 'timeout' };
      }
    } finally {
      this.wanted = 0;
    }
  }

  /** Reads and discards what is left (a redirect's body), as esp_http_client drains before following. */
  async drain(): Promise<void> {
    for (;;) {
      const read = await this.read(256);
      if (read.kind !== 'data') return;
    }
  }

  close(): void {
    this.request.destroy();
    this.response.destroy();
  }

  /** The first `count` queued bytes (count ≤ queued), in one buffer. */
  private take(count: number): Buffer {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < count) {
      const first = this.queue[0]!;
      const wanted = count - have;
      if (first.length <= wanted) {
        this.queue.shift();
        parts.push(first);
        have += first.length;
      } else {
        parts.push(first.subarray(0, wanted));
        this.queue[0] = first.subarray(wanted);
        have = count;
      }
    }
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, count);
    this.queued -= bytes.length;
    this.bytesRead += bytes.length;
    if (this.queued <= 16 * 1024 && this.response.isPaused()) this.response.resume();
    return bytes;
  }

  private waitForEvent(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, this.timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }

  private notify(): void {
    this.wake?.();
  }
}

/**
 * `esp_http_client_open` + `fetch_headers`: connects over TLS with the configured CA, sends the
 * request and waits (at most `timeout_ms` of silence) for the status line and headers.
 */
/**
 * One TLS context per CA the emulated devices trust: building one parses the CA certificate, and a
 * context per connection cost the emulator host a third of a second of CPU per default run.
 */
const contexts = new Map<string, SecureContext>();

function trusting(caPem: string): SecureContext {
  let context = contexts.get(caPem);
  if (context === undefined) {
    context = createSecureContext({ ca: caPem });
    contexts.set(caPem, context);
  }
  return context;
}

export function openExchange(
  config: HttpClientConfig,
  method: 'GET' | 'HEAD',
  url: URL,
  headers: Record<string, string>,
): Promise<HttpExchange> {
  return new Promise((resolve, reject) => {
    if (config.signal.aborted) {
      reject(new HttpConnectError('ESP_ERR_HTTP_CONNECT', 'the chip reset'));
      return;
    }
    let headersSeen = false;
    let connected = false;
    const request = httpsRequest(url, {
      method,
      agent: false,
      // tls.connect's own option, which https passes through (RequestOptions does not list it).
      ...({ secureContext: trusting(config.caPem) } as object),
      rejectUnauthorized: true,
      checkServerIdentity: config.skipCertCommonNameCheck ? () => undefined : checkServerIdentity,
      headers: { 'User-Agent': 'ESP32 HTTP Client/1.0', ...headers },
    });
    const onAbort = () => request.destroy(new Error('the chip reset'));
    config.signal.addEventListener('abort', onAbort, { once: true });
    request.setTimeout(config.timeoutMs, () => {
      if (headersSeen) return;
      request.destroy(
        connected
          ? new HttpConnectError(
              'ESP_ERR_HTTP_FETCH_HEADER',
              `no response headers within ${config.timeoutMs} ms`,
            )
          : new HttpConnectError('ESP_ERR_HTTP_CONNECT', `no TLS connection within ${config.timeoutMs} ms`),
      );
    });
    request.on('socket', (socket) => {
      socket.once('secureConnect', () => {
        connected = true;
      });
    });
    request.on('error', (error) => {
      config.signal.removeEventListener('abort', onAbort);
      if (headersSeen) return;
      if (error instanceof HttpConnectError) reject(error);
      else
        reject(
          new HttpConnectError(
            connected ? 'ESP_ERR_HTTP_FETCH_HEADER' : 'ESP_ERR_HTTP_CONNECT',
            error.message,
          ),
        );
    });
    request.on('response', (response) => {
      headersSeen = true;
      config.signal.removeEventListener('abort', onAbort);
      // From here the body reads carry their own timeouts.
      request.setTimeout(0);
      resolve(new HttpExchange(request, response, config.timeoutMs));
    });
    request.end();
  });
}
