import { connect, type Socket } from 'node:net';
import type { HttpStepError } from './errors.ts';
import type { HttpTarget } from './http-target.ts';
import { parseHead } from './raw-request.ts';
import { type HeadFacts, NOT_HTTP, readHeadFacts } from './response-head.ts';
import {
  describeBytes,
  MAX_DEVICE_RESPONSE_BYTES,
  MAX_RESPONSE_HEAD_BYTES,
  overLimit,
} from './response-limits.ts';

/** One request on the device's own routes. */
export interface KeepAliveRequest {
  step: string;
  method: string;
  /** Path and query as sent (error messages and transcripts). */
  path: string;
  /** The request head, ending in the blank line; written as is (unless `packet` is given). */
  head: string;
  body: Uint8Array | undefined;
  /**
   * The whole request as it goes on the wire, head and body, when the caller encoded it itself
   * (the chunk path writes its head straight into the packet); `head` is then not read.
   */
  packet?: Buffer;
  /** A long body handed to the socket piece by piece after `head` (`body` is then unused). */
  stream?: StreamedBody;
  /** The headers the request carries besides Host and Content-Length (for the transcript only). */
  headers: Readonly<Record<string, string>>;
  /** For a streamed body: silence allowed, restarted by every piece the socket takes. */
  timeoutMs: number;
  /** 'on-error' discards a 2xx body: the chunk path needs only the status. */
  read: 'always' | 'on-error';
  /** Also return the answer's headers (parsed only when asked). */
  withHeaders?: boolean;
}

/** An upload body written as the socket takes it, without copying the caller's bytes. */
export interface StreamedBody {
  pieces: Iterable<Uint8Array>;
  /** Bytes the pieces hold (transcripts). */
  length: number;
  /** Each piece framed as an HTTP/1.1 chunk, and the last chunk after them. */
  chunked: boolean;
  /**
   * The body is shorter than its Content-Length on purpose: after the last piece the connection
   * is closed and the request ends as HTTP_CONNECTION, as a client that went away mid-upload.
   */
  cut: boolean;
}

export interface KeepAliveResponse {
  status: number;
  /** Empty when the body was discarded ('on-error' and a 2xx status). */
  body: Buffer;
  /** With `withHeaders`: the answer's headers by lower-case name (a repeated one as a list). */
  headers?: Record<string, string | string[]>;
}

/** `name: value\r\n` for each header, in a request head. */
export function headLines(headers: Readonly<Record<string, string>>): string {
  let lines = '';
  for (const [name, value] of Object.entries(headers)) lines += `${name}: ${value}\r\n`;
  return lines;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
/** The answer to every chunk that went well: shared, so a 200 whose body is dropped costs no object. */
const OK_DISCARDED: KeepAliveResponse = Object.freeze({ status: 200, body: EMPTY });

/**
 * The device's routes over one keep-alive `node:net` connection owned by the client, with nothing
 * a device that answers by Content-Length needs besides: each request leaves in one write, the
 * answer's head is scanned as bytes only for its status, Content-Length and Connection, and one
 * deadline timer is restarted per request rather than created. The request in flight lives in
 * this object's own fields (one at a time, as a device serves them), so a request costs its
 * promise and the bytes it is written as, and a 2xx answer whose body is dropped costs nothing.
 * undici costs tens of µs per request (its request objects, header validation, an AbortSignal
 * and a timer each, and a source-mapped error for every `Connection: close`), which is what lets
 * a push client keep up with a raw socket (DESIGN.md § Performance targets). After
 * `Connection: close` (the device's 16-request budget, reference viperhttp-luartos-mqtt.md §1.8)
 * or an idle drop, the next request simply opens a new connection; a connection lost under a
 * request is the caller's to reconcile.
 */
export class KeepAliveConnection {
  private socket: Socket | undefined;
  private inFlight: Promise<unknown> | undefined;
  private buffered: Buffer | undefined;
  /** The socket's error code, reported when its close fails the request in flight. */
  private socketErrorCode: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  private closed = false;
  private connections = 0;
  private wireStartedAt = 0;
  private connectedAt = 0;
  private answeredAt = 0;
  /** The request in flight and how to settle it; undefined between requests. */
  private request: KeepAliveRequest | undefined;
  private resolveRequest: ((response: KeepAliveResponse) => void) | undefined;
  private rejectRequest: ((error: HttpStepError) => void) | undefined;
  private startedAt = 0;
  /** Index of the blank line ending the answer's head; -1 until it arrived. */
  private headEnd = -1;
  private readonly facts: HeadFacts = { status: 0, contentLength: undefined, close: false };
  /** One executor for every request's promise: it only keeps the settling functions. */
  private readonly capture = (
    resolve: (response: KeepAliveResponse) => void,
    reject: (error: HttpStepError) => void,
  ): void => {
    this.resolveRequest = resolve;
    this.rejectRequest = reject;
  };

  constructor(private readonly target: HttpTarget) {}

  /** TCP connections opened so far. */
  get connectionsOpened(): number {
    return this.connections;
  }

  /**
   * When the last send() reached the network (performance.now()): its connect, or its first write
   * on a connection kept from before. The request's own preparation (building the body and the
   * head) is before it, as curl's `time_total` starts after curl has set up the transfer.
   */
  get lastWireStart(): number {
    return this.wireStartedAt;
  }

  /** When the last connection this client opened was established (performance.now()); 0 before any. */
  get lastConnected(): number {
    return this.connectedAt;
  }

  /**
   * When the last answer was complete (performance.now()): its last byte read and its framing
   * understood, before the head's headers are parsed for the caller and the promise settles. The
   * end of the wire exchange, as lastWireStart is its start (curl's `time_total` likewise stops
   * inside the transfer, not after the tool has handed the answer on).
   */
  get lastAnswered(): number {
    return this.answeredAt;
  }

  send(request: KeepAliveRequest): Promise<KeepAliveResponse> {
    const promise = new Promise<KeepAliveResponse>(this.capture);
    this.inFlight = promise;
    this.request = request;
    this.startedAt = this.target.recording ? Date.now() : 0;
    this.headEnd = -1;
    this.buffered = undefined;
    if (this.closed) {
      this.fail(this.connectionError(request, undefined, 'the client was closed'));
      return promise;
    }
    this.armDeadline(request.timeoutMs);
    this.wireStartedAt = performance.now();
    const socket = this.socket ?? this.open();
    const body = request.body;
    if (request.stream !== undefined) {
      socket.write(request.head, 'latin1');
      void this.pump(socket, request, request.stream);
    } else if (request.packet !== undefined) {
      socket.write(request.packet);
    } else if (body === undefined || body.length === 0) {
      socket.write(request.head, 'latin1');
    } else {
      // One buffer, one write: measured at or below cork + two writes + uncork in CPU per request
      // for 1–4 KB chunks (the copy is a memcpy into Node's pool).
      const headLength = request.head.length;
      const packet = Buffer.allocUnsafe(headLength + body.length);
      packet.write(request.head, 0, 'latin1');
      packet.set(body, headLength);
      socket.write(packet);
    }
    return promise;
  }

  /**
   * Hands a streamed body to the socket piece by piece: the deadline restarts as each piece is
   * taken, and a full socket buffer is waited out (`drain`) rather than queued up. Stops as soon as
   * the request is settled (the device answered early, or the connection failed).
   */
  private async pump(socket: Socket, request: KeepAliveRequest, body: StreamedBody): Promise<void> {
    const current = () => this.request === request && this.socket === socket;
    for (const piece of body.pieces) {
      if (!current()) return;
      if (piece.length === 0) continue;
      if (body.chunked) socket.write(`${piece.length.toString(16)}\r\n`, 'latin1');
      let flowing = socket.write(piece);
      if (body.chunked) flowing = socket.write('\r\n', 'latin1');
      this.timer?.refresh();
      if (!flowing) await drained(socket);
    }
    if (!current()) return;
    if (body.chunked) socket.write('0\r\n\r\n', 'latin1');
    if (body.cut)
      socket.end(() => {
        if (!current()) return;
        this.retire();
        this.fail(
          this.connectionError(
            request,
            undefined,
            `the harness closed the connection after ${body.length} bytes of the body (a cut upload)`,
          ),
        );
      });
  }

  /** Lets the request in flight finish, then closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    await this.inFlight?.catch(() => undefined);
    clearTimeout(this.timer);
    this.retire();
  }

  /** Drops the connection and fails the request in flight. */
  destroy(): void {
    this.closed = true;
    const request = this.request;
    if (request !== undefined) this.fail(this.connectionError(request, undefined, 'the client was closed'));
    clearTimeout(this.timer);
    this.retire();
  }

  private open(): Socket {
    const socket = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    // The deadline timer, not the socket, keeps the process alive while a request waits, so an idle
    // connection never holds a finished harness open.
    socket.unref();
    this.socket = socket;
    this.socketErrorCode = undefined;
    socket.on('connect', () => {
      this.connectedAt = performance.now();
      this.connections++;
    });
    socket.on('data', (data: Buffer) => {
      if (socket === this.socket) this.receive(data);
    });
    socket.on('end', () => {
      if (socket === this.socket) this.peerClosed();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (socket === this.socket) this.socketErrorCode = error.code;
    });
    socket.on('close', () => {
      if (socket === this.socket) this.peerClosed();
    });
    return socket;
  }

  /** Forgets the current socket; its late events are ignored from here on. */
  private retire(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.buffered = undefined;
    socket?.destroy();
  }

  /**
   * Forgets the socket at once, as retire() does, but closes it only after the caller has its
   * answer: destroy() costs 0.1–0.2 ms that need not stand between the last byte and the answer.
   */
  private retireAfterAnswer(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.buffered = undefined;
    if (socket !== undefined) setImmediate(() => socket.destroy());
  }

  private armDeadline(timeoutMs: number): void {
    if (this.timer === undefined || this.timerMs !== timeoutMs) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.deadlinePassed(), timeoutMs);
      this.timerMs = timeoutMs;
    } else {
      this.timer.refresh();
      this.timer.ref();
    }
  }

  private deadlinePassed(): void {
    const request = this.request;
    if (request === undefined) return;
    const partial = this.buffered;
    const headRead = this.headEnd >= 0;
    this.retire();
    // Say what the target did: silence, a head that never ended, or a body cut short.
    const what = headRead
      ? 'did not finish its response'
      : partial === undefined || partial.length === 0
        ? 'got no response'
        : `got ${partial.length} bytes but no complete response head: ${describeBytes(partial)}`;
    this.fail(
      this.target.timeoutError(
        request.step,
        `(${request.method} ${request.path}) ${what}`,
        request.timeoutMs,
      ),
    );
  }

  private receive(data: Buffer): void {
    if (this.request === undefined) return;
    const received = this.buffered === undefined ? data : Buffer.concat([this.buffered, data]);
    if (this.headEnd < 0) {
      const headEnd = received.indexOf(HEAD_END);
      if (headEnd < 0) {
        // Garbage is reported as soon as it cannot be the start of a status line.
        if (!startsLikeHttp(received)) {
          this.refuse('HTTP_MALFORMED_RESPONSE', notHttp(received));
          return;
        }
        if (received.length > MAX_RESPONSE_HEAD_BYTES) {
          this.refuse(
            'HTTP_RESPONSE_TOO_LARGE',
            overLimit('a response head', received.length, MAX_RESPONSE_HEAD_BYTES),
          );
          return;
        }
        this.buffered = received;
        return;
      }
      const unreadable = readHeadFacts(received, headEnd, this.facts);
      if (unreadable !== undefined) {
        this.refuse(
          'HTTP_MALFORMED_RESPONSE',
          unreadable === NOT_HTTP ? notHttp(received.subarray(0, headEnd)) : unreadable,
        );
        return;
      }
      this.headEnd = headEnd;
    }
    const bodyStart = this.headEnd + HEAD_END.length;
    const declared = this.facts.contentLength;
    if ((declared ?? received.length - bodyStart) > MAX_DEVICE_RESPONSE_BYTES) {
      this.refuse(
        'HTTP_RESPONSE_TOO_LARGE',
        overLimit('a response body', declared ?? received.length - bodyStart, MAX_DEVICE_RESPONSE_BYTES),
      );
      return;
    }
    if (declared === undefined || received.length < bodyStart + declared) {
      this.buffered = received;
      return;
    }
    this.complete(received, bodyStart, bodyStart + declared);
  }

  /** Ends the request in flight on an answer the harness will not read further, and drops the connection. */
  private refuse(code: 'HTTP_RESPONSE_TOO_LARGE' | 'HTTP_MALFORMED_RESPONSE', what: string): void {
    const request = this.request!;
    this.retire();
    this.fail(this.target.stepError(code, request.step, `(${request.method} ${request.path}) ${what}`));
  }

  /** The device closed (FIN, reset or refused): a close-delimited answer ends here; anything else failed. */
  private peerClosed(): void {
    const request = this.request;
    const received = this.buffered;
    const code = this.socketErrorCode;
    this.retire();
    if (request === undefined) return;
    if (this.headEnd >= 0 && this.facts.contentLength === undefined && received !== undefined) {
      this.complete(received, this.headEnd + HEAD_END.length, received.length);
      return;
    }
    this.fail(
      this.connectionError(
        request,
        code,
        code === undefined ? 'the target closed the connection' : undefined,
      ),
    );
  }

  private complete(received: Buffer, bodyStart: number, bodyEnd: number): void {
    this.answeredAt = performance.now();
    const request = this.request!;
    const resolve = this.resolveRequest!;
    this.settled();
    const { status, close } = this.facts;
    if (close) this.retireAfterAnswer();
    const discard = request.read === 'on-error' && status >= 200 && status < 300;
    const response: KeepAliveResponse =
      discard && status === 200
        ? OK_DISCARDED
        : { status, body: discard ? EMPTY : received.subarray(bodyStart, bodyEnd) };
    if (request.withHeaders) response.headers = headersOf(received.subarray(0, bodyStart));
    if (this.target.recording)
      this.target.record(
        request,
        this.startedAt,
        status,
        response.headers ?? headersOf(received.subarray(0, bodyStart)),
        sentBytes(request),
        response.body.length,
      );
    resolve(response);
  }

  private fail(error: HttpStepError): void {
    const request = this.request;
    const reject = this.rejectRequest;
    this.settled();
    if (request === undefined || reject === undefined) return;
    if (this.target.recording)
      this.target.record(request, this.startedAt, undefined, {}, sentBytes(request), 0, error.message);
    reject(error);
  }

  /** Between requests: nothing in flight, nothing buffered, and the deadline no longer holds the process. */
  private settled(): void {
    this.request = undefined;
    this.resolveRequest = undefined;
    this.rejectRequest = undefined;
    this.buffered = undefined;
    this.timer?.unref();
  }

  private connectionError(
    request: KeepAliveRequest,
    code: string | undefined,
    cause?: string,
  ): HttpStepError {
    return this.target.connectionError(request.step, `(${request.method} ${request.path})`, code, cause);
  }
}

const HTTP_PREFIX = 'HTTP/1.';

function sentBytes(request: KeepAliveRequest): number {
  return request.stream?.length ?? request.body?.length ?? 0;
}

/** The head's headers by lower-case name; a name sent twice (two challenges) keeps both values. */
function headersOf(head: Buffer): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of parseHead(head)?.headers ?? []) {
    const key = name.toLowerCase();
    const before = headers[key];
    headers[key] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value];
  }
  return headers;
}

/** Resolves when the socket can take more, or is gone. */
function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** False once the bytes so far can no longer begin `HTTP/1.`. */
function startsLikeHttp(received: Buffer): boolean {
  const length = Math.min(received.length, HTTP_PREFIX.length);
  return received.toString('latin1', 0, length) === HTTP_PREFIX.slice(0, length);
}

function notHttp(bytes: Buffer): string {
  return `answered something that is not an HTTP/1.x response: ${describeBytes(bytes)}`;
}
