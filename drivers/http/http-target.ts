import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { HttpStepError, type HttpStepErrorCode } from './errors.ts';
import {
  AnswerCutShort,
  AnswerOverLimit,
  DEADLINE_PASSED,
  type ExchangeProgress,
  type Exchanging,
  oneExchange,
} from './one-exchange.ts';
import { MAX_DEVICE_RESPONSE_BYTES, MAX_RESPONSE_HEAD_BYTES, overLimit } from './response-limits.ts';
import { redactHeaders, type TranscriptHook } from './transcript.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS' | 'HEAD';

export interface TargetRequest {
  step: string;
  method: HttpMethod;
  /** Path and query, as sent. */
  path: string;
  headers: Readonly<Record<string, string>>;
  body?: Uint8Array | string;
  timeoutMs: number;
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
  scrub: (text: string) => string;
  transcript?: TranscriptHook;
  /** Header names that carry a credential (masked whole in transcripts). */
  credentialHeaders?: ReadonlySet<string>;
}

const CLOSED_BY_TARGET = 'CLOSED_BY_TARGET';
const CUT_BY_TARGET = 'CUT_BY_TARGET';
const CLIENT_CLOSED = 'CLIENT_CLOSED';

/** Codes this module gives to what Node reports without one of its own; not shown in messages. */
const INTERNAL_CODES: ReadonlySet<string> = new Set([CLOSED_BY_TARGET, CUT_BY_TARGET, CLIENT_CLOSED]);

const CONNECTION_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (nothing listens there)',
  ECONNRESET: 'connection reset by the target',
  EPIPE: 'the target closed the connection while the request was being sent',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  [CLOSED_BY_TARGET]: 'the target closed the connection',
  [CUT_BY_TARGET]: 'the target closed the connection before its response was complete',
  [CLIENT_CLOSED]: 'the client was closed',
};

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      // Node says 'socket hang up' (ECONNRESET) for a connection closed before any answer and
      // 'aborted' for one closed inside it, with or without a reset; a reset has its own message.
      if (code === 'ECONNRESET' && current.message === 'socket hang up') return CLOSED_BY_TARGET;
      if (code === 'ECONNRESET' && current.message === 'aborted') return CUT_BY_TARGET;
      return code;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** An error with one of this module's codes (no stack is wanted: it never reaches a report as is). */
function codedFailure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * One target reached over HTTP/1.1 with Node's own client: one keep-alive connection (an Agent
 * with one socket, so requests go one at a time, as a device serves them). A device that closes
 * after its per-connection request budget announces it with `Connection: close`, and the next
 * request opens a new connection. One native timer per request is its whole deadline: connecting,
 * the answer's head and its body.
 */
export class HttpTarget {
  readonly targetName: string;
  readonly origin: URL;
  /** Made on the first request. */
  private agent: Agent | undefined;
  private readonly scrub: (text: string) => string;
  private readonly transcript: TranscriptHook | undefined;
  private readonly credentialHeaders: ReadonlySet<string>;
  private connections = 0;
  /** Requests in flight: each is cancelled when the client is destroyed under it. */
  private readonly inFlight = new Set<Exchanging>();

  constructor(options: HttpTargetOptions) {
    this.targetName = options.targetName;
    this.origin = new URL(options.baseUrl);
    this.scrub = options.scrub;
    this.transcript = options.transcript;
    this.credentialHeaders = options.credentialHeaders ?? new Set();
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
    const answer: ExchangeProgress = {
      connected: false,
      status: undefined,
      headers: {},
      onConnect: () => {
        this.connections++;
      },
    };
    try {
      const { status, headers, body } = await this.exchange(request, answer);
      if (this.transcript) this.recordSend(request, startedAt, status, headers, body.length);
      return { status, headers, body };
    } catch (caught) {
      const failure =
        caught === DEADLINE_PASSED
          ? this.timeoutError(
              request.step,
              `(${request.method} ${request.path}) ${
                !answer.connected
                  ? 'could not connect'
                  : answer.status === undefined
                    ? 'got no response'
                    : 'did not finish its response'
              }`,
              request.timeoutMs,
            )
          : this.failure(request, caught);
      if (this.transcript) {
        this.recordSend(request, startedAt, answer.status, answer.headers, 0, failure.message);
      }
      throw failure;
    }
  }

  /**
   * The request and its answer's body (up to MAX_DEVICE_RESPONSE_BYTES: a longer one is unread past
   * the limit), within the request's deadline, on the target's one kept-alive connection; `answer`
   * learns the status and headers as they come, for the error and the transcript of one that fails.
   */
  private async exchange(request: TargetRequest, answer: ExchangeProgress) {
    const secure = this.origin.protocol === 'https:';
    this.agent ??= new (secure ? HttpsAgent : Agent)({ keepAlive: true, maxSockets: 1 });
    const exchanging = oneExchange({
      secure,
      options: {
        host: this.host,
        port: this.port,
        method: request.method,
        path: request.path,
        headers: request.headers,
        agent: this.agent,
        maxHeaderSize: MAX_RESPONSE_HEAD_BYTES,
      },
      body: request.body,
      timeoutMs: request.timeoutMs,
      maxBodyBytes: MAX_DEVICE_RESPONSE_BYTES,
      keepBody: (status) => request.read === 'always' || status < 200 || status >= 300,
      progress: answer,
    });
    this.inFlight.add(exchanging);
    try {
      return await exchanging.answered;
    } finally {
      this.inFlight.delete(exchanging);
    }
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
    const where = `(${request.method} ${request.path})`;
    if (error instanceof AnswerOverLimit)
      return this.stepError(
        'HTTP_RESPONSE_TOO_LARGE',
        request.step,
        `${where} ${overLimit('a response body', error.received, error.limit)}`,
      );
    const code = error instanceof AnswerCutShort ? CUT_BY_TARGET : errorCode(error);
    if (code === 'HPE_HEADER_OVERFLOW')
      return this.stepError(
        'HTTP_RESPONSE_TOO_LARGE',
        request.step,
        `${where} sent a response head over the harness's limit of ${MAX_RESPONSE_HEAD_BYTES} bytes; stopped reading`,
      );
    // llhttp's codes: the target answered, but not with HTTP/1.x (garbage is not "no response").
    if (code?.startsWith('HPE_'))
      return this.stepError(
        'HTTP_MALFORMED_RESPONSE',
        request.step,
        `${where} answered something that is not an HTTP/1.x response (${error instanceof Error ? error.message : String(error)})`,
      );
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
        `target ${this.describe()}: step '${step}' ${where} failed: ${said}${code && !INTERNAL_CODES.has(code) ? ` (${code})` : ''}`,
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
      typeof request.body === 'string' ? Buffer.byteLength(request.body) : (request.body?.length ?? 0);
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

  /** Lets the request in flight finish, then closes the connection. */
  async close(): Promise<void> {
    await Promise.all([...this.inFlight].map(({ answered }) => answered.catch(() => undefined)));
    this.agent?.destroy();
  }

  /** Drops the connection and fails whatever is in flight. */
  async destroy(): Promise<void> {
    for (const { cancel } of [...this.inFlight]) cancel(codedFailure(CLIENT_CLOSED, 'the client was closed'));
    this.agent?.destroy();
  }
}
