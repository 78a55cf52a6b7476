import type { Readable } from 'node:stream';
import type { Client } from 'undici';
import { HttpStepError, type HttpStepErrorCode } from './errors.ts';
import { MAX_DEVICE_RESPONSE_BYTES, MAX_RESPONSE_HEAD_BYTES, overLimit } from './response-limits.ts';
import { redactHeaders, type TranscriptHook } from './transcript.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS' | 'HEAD';

export interface TargetRequest {
  step: string;
  method: HttpMethod;
  /** Path and query, as sent. */
  path: string;
  headers: Readonly<Record<string, string>>;
  body?: Uint8Array | string | Readable;
  /** For a streamed body: how many bytes it carries (for the transcript only). */
  bodyLength?: number;
  timeoutMs: number;
  /**
   * For a streamed body: the stream's producer calls `touch()` for every piece it hands over, which
   * restarts the step's deadline (a stream cannot be observed without taking its data).
   */
  pulse?: { touch: () => void };
  /** 'on-error' discards a 2xx body unread: the chunk path needs only the status. */
  read: 'always' | 'on-error';
}

export interface TargetResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Empty when the body was discarded ('on-error' and a 2xx status). */
  body: Buffer;
}

export interface HttpTargetOptions {
  baseUrl: string;
  targetName: string;
  /** Connect timeout and default per-request timeout. */
  stepMs: number;
  scrub: (text: string) => string;
  transcript?: TranscriptHook;
  /** Header names that carry a credential (masked whole in transcripts). */
  credentialHeaders?: ReadonlySet<string>;
}

const CONNECTION_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (nothing listens there)',
  ECONNRESET: 'connection reset by the target',
  EPIPE: 'the target closed the connection while the request was being sent',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  UND_ERR_SOCKET: 'the target closed the connection',
  UND_ERR_CLOSED: 'the client was closed',
  UND_ERR_DESTROYED: 'the client was closed',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'the request body did not match its Content-Length',
};

const TIMEOUT_CODES: Readonly<Record<string, string>> = {
  UND_ERR_CONNECT_TIMEOUT: 'could not connect',
  UND_ERR_HEADERS_TIMEOUT: 'got no response',
  UND_ERR_BODY_TIMEOUT: 'stopped sending the response body',
};

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * One target reached over HTTP/1.1: one undici Client (one keep-alive connection, no pipelining,
 * as a device serves one request at a time). A device that closes after its per-connection request
 * budget announces it with `Connection: close`, and the Client opens the next connection itself.
 */
export class HttpTarget {
  readonly targetName: string;
  readonly origin: URL;
  /** Made on the first request: undici loads only where a suite sends one. */
  private client: Client | undefined;
  private readonly clientOptions: ConstructorParameters<typeof Client>[1];
  private readonly stepMs: number;
  private readonly scrub: (text: string) => string;
  private readonly transcript: TranscriptHook | undefined;
  private readonly credentialHeaders: ReadonlySet<string>;
  private connections = 0;

  constructor(options: HttpTargetOptions) {
    this.targetName = options.targetName;
    this.origin = new URL(options.baseUrl);
    this.stepMs = options.stepMs;
    this.scrub = options.scrub;
    this.transcript = options.transcript;
    this.credentialHeaders = options.credentialHeaders ?? new Set();
    this.clientOptions = {
      connect: { timeout: options.stepMs },
      headersTimeout: options.stepMs,
      bodyTimeout: options.stepMs,
      pipelining: 1,
      maxHeaderSize: MAX_RESPONSE_HEAD_BYTES,
    };
  }

  private async connection(): Promise<Client> {
    if (this.client === undefined) {
      const { Client } = await import('undici');
      this.client ??= new Client(this.origin.origin, this.clientOptions).on('connect', () => {
        this.connections++;
      });
    }
    return this.client;
  }

  /** TCP connections opened so far (a reconnect after the device's request budget adds one). */
  get connectionsOpened(): number {
    return this.connections;
  }

  get host(): string {
    return this.origin.hostname.replace(/^\[|\]$/g, '');
  }

  get port(): number {
    if (this.origin.port !== '') return Number(this.origin.port);
    return this.origin.protocol === 'https:' ? 443 : 80;
  }

  /** Base path of the URL without a trailing slash (a device behind a path prefix). */
  get basePath(): string {
    return this.origin.pathname.replace(/\/+$/, '');
  }

  describe(): string {
    return `${this.targetName} (${this.origin.host})`;
  }

  async send(request: TargetRequest): Promise<TargetResponse> {
    const startedAt = this.transcript ? Date.now() : 0;
    let status: number | undefined;
    let responseHeaders: TargetResponse['headers'] = {};
    let received = 0;
    // undici's own header/body timers tick at a coarse resolution (a 400 ms timeout fires after
    // about a second), so the step's deadline is a native timer; for a streamed body it measures
    // silence, restarted by every piece the body's producer hands over (`pulse`), so a long upload is not cut short.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, request.timeoutMs);
    if (request.pulse) request.pulse.touch = () => timer.refresh();
    try {
      const client = await this.connection();
      const response = await client.request({
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
        signal: controller.signal,
      });
      status = response.statusCode;
      responseHeaders = response.headers;
      let body: Buffer;
      if (request.read === 'on-error' && status >= 200 && status < 300) {
        await response.body.dump();
        body = EMPTY;
      } else {
        body = await this.readCapped(request, response.body);
        received = body.length;
      }
      clearTimeout(timer);
      if (this.transcript) this.recordSend(request, startedAt, status, responseHeaders, received);
      return { status, headers: responseHeaders, body };
    } catch (error) {
      clearTimeout(timer);
      const failure = timedOut
        ? this.timeoutError(
            request.step,
            `(${request.method} ${request.path}) ${status === undefined ? 'got no response' : 'did not finish its response'}`,
            request.timeoutMs,
          )
        : this.failure(request, error);
      if (this.transcript) {
        this.recordSend(request, startedAt, status, responseHeaders, received, failure.message);
      }
      throw failure;
    }
  }

  /** The body, up to MAX_DEVICE_RESPONSE_BYTES: a longer one is HTTP_RESPONSE_TOO_LARGE, unread past the limit. */
  private async readCapped(
    request: TargetRequest,
    body: AsyncIterable<Buffer> & { destroy(): void },
  ): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of body) {
      length += chunk.length;
      if (length > MAX_DEVICE_RESPONSE_BYTES) {
        body.destroy();
        throw this.stepError(
          'HTTP_RESPONSE_TOO_LARGE',
          request.step,
          `(${request.method} ${request.path}) ${overLimit('a response body', length, MAX_DEVICE_RESPONSE_BYTES)}`,
        );
      }
      chunks.push(chunk);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
  }

  /** A step error whose message names the target and the step. */
  stepError(code: HttpStepErrorCode, step: string, what: string): HttpStepError {
    return new HttpStepError(code, this.scrub(`target ${this.describe()}: step '${step}' ${what}`), {
      targetName: this.targetName,
      step,
    });
  }

  /** Throws HTTP_STATUS unless the status is 2xx. */
  expectOk(
    step: string,
    request: { method: string; path: string },
    response: Pick<TargetResponse, 'status' | 'body'>,
  ): void {
    if (response.status >= 200 && response.status < 300) return;
    throw this.statusError(step, request, response.status, response.body.toString('utf8'));
  }

  statusError(
    step: string,
    request: { method: string; path: string },
    status: number,
    text: string,
    hint = '',
  ): HttpStepError {
    const shown = this.scrub(text.replace(/\s+/g, ' ').trim()).slice(0, 300);
    return new HttpStepError(
      'HTTP_STATUS',
      this.scrub(
        `target ${this.describe()}: step '${step}' (${request.method} ${request.path}) answered HTTP ${status}` +
          `${shown === '' ? '' : `: ${shown}`}${hint}`,
      ),
      { targetName: this.targetName, step, status, responseText: shown },
    );
  }

  timeoutError(step: string, what: string, timeoutMs: number): HttpStepError {
    return new HttpStepError(
      'HTTP_STEP_TIMEOUT',
      this.scrub(`target ${this.describe()}: step '${step}' ${what} within ${timeoutMs} ms`),
      { targetName: this.targetName, step, timeoutMs },
    );
  }

  private failure(request: TargetRequest, error: unknown): HttpStepError {
    if (error instanceof HttpStepError) return error;
    const code = errorCode(error);
    const where = `(${request.method} ${request.path})`;
    if (code === 'UND_ERR_HEADERS_OVERFLOW')
      return this.stepError(
        'HTTP_RESPONSE_TOO_LARGE',
        request.step,
        `${where} sent a response head over the harness's limit of ${MAX_RESPONSE_HEAD_BYTES} bytes; stopped reading`,
      );
    // llhttp's codes: the target answered, but not with HTTP/1.x (garbage is not "no response").
    if (code?.startsWith('HPE_') || (error instanceof Error && error.name === 'HTTPParserError'))
      return this.stepError(
        'HTTP_MALFORMED_RESPONSE',
        request.step,
        `${where} answered something that is not an HTTP/1.x response (${error instanceof Error ? error.message : String(error)})`,
      );
    const timeoutWhat = code === undefined ? undefined : TIMEOUT_CODES[code];
    if (timeoutWhat !== undefined) {
      const timeoutMs = code === 'UND_ERR_CONNECT_TIMEOUT' ? this.stepMs : request.timeoutMs;
      return this.timeoutError(request.step, `${where} ${timeoutWhat}`, timeoutMs);
    }
    return this.connectionError(
      request.step,
      where,
      code,
      code === undefined || CONNECTION_CODES[code] === undefined
        ? error instanceof Error
          ? error.message
          : String(error)
        : undefined,
    );
  }

  /** HTTP_CONNECTION for a step; `cause` defaults to the plain words for a known socket error code. */
  connectionError(step: string, where: string, code: string | undefined, cause?: string): HttpStepError {
    const said = cause ?? (code === undefined ? undefined : CONNECTION_CODES[code]) ?? code ?? 'failed';
    return new HttpStepError(
      'HTTP_CONNECTION',
      this.scrub(
        `target ${this.describe()}: step '${step}' ${where} failed: ${said}${code ? ` (${code})` : ''}`,
      ),
      { targetName: this.targetName, step },
    );
  }

  /** Whether a transcript hook is set: without one, nothing is spent on transcript events. */
  get recording(): boolean {
    return this.transcript !== undefined;
  }

  private recordSend(
    request: TargetRequest,
    startedAt: number,
    status: number | undefined,
    responseHeaders: TargetResponse['headers'],
    received: number,
    error?: string,
  ): void {
    const sent =
      request.bodyLength ??
      (typeof request.body === 'string'
        ? Buffer.byteLength(request.body)
        : request.body instanceof Uint8Array
          ? request.body.length
          : 0);
    this.record(request, startedAt, status, responseHeaders, sent, received, error);
  }

  /** One transcript event for a request on this target, redacted. */
  record(
    request: { step: string; method: string; path: string; headers: Readonly<Record<string, string>> },
    startedAt: number,
    status: number | undefined,
    responseHeaders: TargetResponse['headers'],
    sent: number,
    received: number,
    error?: string,
  ): void {
    this.transcript?.({
      at: startedAt,
      step: request.step,
      method: request.method,
      path: this.scrub(request.path),
      status,
      requestHeaders: redactHeaders(request.headers, this.scrub, this.credentialHeaders),
      responseHeaders: redactHeaders(responseHeaders, this.scrub),
      bytes: { sent, received },
      durationMs: Date.now() - startedAt,
      ...(error === undefined ? {} : { error }),
      via: 'client',
    });
  }

  /** Lets queued requests finish, then closes the connection. */
  async close(): Promise<void> {
    if (this.client !== undefined && !this.client.closed) await this.client.close();
  }

  /** Drops the connection and fails whatever is in flight. */
  async destroy(): Promise<void> {
    if (this.client !== undefined && !this.client.destroyed) await this.client.destroy();
  }
}

const EMPTY = Buffer.alloc(0);
