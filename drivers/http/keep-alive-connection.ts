import { connect, type Socket } from 'node:net';
import type { HttpStepError } from './errors.ts';
import type { HttpTarget } from './http-target.ts';
import { parseHead } from './raw-request.ts';
import {
  describeBytes,
  MAX_DEVICE_RESPONSE_BYTES,
  MAX_RESPONSE_HEAD_BYTES,
  overLimit,
} from './response-limits.ts';

/** One request on the device's own routes; `head` is written as is, ending in the blank line. */
export interface KeepAliveRequest {
  step: string;
  method: string;
  /** Path and query as sent (error messages and transcripts). */
  path: string;
  head: string;
  body: Uint8Array | undefined;
  /** The headers `head` carries besides Host and Content-Length (for the transcript only). */
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** 'on-error' discards a 2xx body: the chunk path needs only the status. */
  read: 'always' | 'on-error';
}

export interface KeepAliveResponse {
  status: number;
  /** Empty when the body was discarded ('on-error' and a 2xx status). */
  body: Buffer;
}

interface Pending {
  request: KeepAliveRequest;
  resolve: (response: KeepAliveResponse) => void;
  reject: (error: HttpStepError) => void;
  startedAt: number;
  /** Index of the blank line ending the response head; -1 until it arrived. */
  headEnd: number;
  status: number;
  /** Undefined: the body ends when the device closes. */
  contentLength: number | undefined;
  close: boolean;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

/**
 * The device's routes over one keep-alive `node:net` connection owned by the client, with nothing
 * a device that answers by Content-Length needs besides: each request leaves in one write, the
 * answer's head is scanned only for its status, Content-Length and Connection, and one deadline
 * timer is restarted per request rather than created. Per request it costs a few µs where undici
 * costs tens (its request objects, header validation, an AbortSignal and a timer each, and a
 * source-mapped error for every `Connection: close`), which is what lets a push client keep up
 * with a raw socket (DESIGN.md § Performance targets). After `Connection: close` (the device's
 * 16-request budget, reference viperhttp-luartos-mqtt.md §1.8) or an idle drop, the next request
 * simply opens a new connection; a connection lost under a request is the caller's to reconcile.
 */
export class KeepAliveConnection {
  private socket: Socket | undefined;
  private pending: Pending | undefined;
  private inFlight: Promise<unknown> | undefined;
  private buffered: Buffer | undefined;
  /** The socket's error code, reported when its close fails the request in flight. */
  private socketErrorCode: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  private closed = false;
  private connections = 0;

  constructor(private readonly target: HttpTarget) {}

  /** TCP connections opened so far. */
  get connectionsOpened(): number {
    return this.connections;
  }

  send(request: KeepAliveRequest): Promise<KeepAliveResponse> {
    const promise = new Promise<KeepAliveResponse>((resolve, reject) => {
      const pending: Pending = {
        request,
        resolve,
        reject,
        startedAt: this.target.recording ? Date.now() : 0,
        headEnd: -1,
        status: 0,
        contentLength: undefined,
        close: false,
      };
      if (this.closed) {
        this.fail(pending, this.connectionError(request, undefined, 'the client was closed'));
        return;
      }
      this.pending = pending;
      this.buffered = undefined;
      this.armDeadline(request.timeoutMs);
      const socket = this.socket ?? this.open();
      const body = request.body;
      if (body === undefined || body.length === 0) {
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
    });
    this.inFlight = promise;
    return promise;
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
    const pending = this.pending;
    if (pending !== undefined)
      this.fail(pending, this.connectionError(pending.request, undefined, 'the client was closed'));
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
    const pending = this.pending;
    if (pending === undefined) return;
    const { request } = pending;
    const partial = this.buffered;
    this.retire();
    // Say what the target did: silence, a head that never ended, or a body cut short.
    const what =
      pending.headEnd >= 0
        ? 'did not finish its response'
        : partial === undefined || partial.length === 0
          ? 'got no response'
          : `got ${partial.length} bytes but no complete response head: ${describeBytes(partial)}`;
    this.fail(
      pending,
      this.target.timeoutError(
        request.step,
        `(${request.method} ${request.path}) ${what}`,
        request.timeoutMs,
      ),
    );
  }

  private receive(data: Buffer): void {
    const pending = this.pending;
    if (pending === undefined) return;
    const received = this.buffered === undefined ? data : Buffer.concat([this.buffered, data]);
    if (pending.headEnd < 0) {
      const headEnd = received.indexOf(HEAD_END);
      if (headEnd < 0) {
        // Garbage is reported as soon as it cannot be the start of a status line.
        if (!startsLikeHttp(received)) {
          this.refuse(pending, 'HTTP_MALFORMED_RESPONSE', notHttp(received));
          return;
        }
        if (received.length > MAX_RESPONSE_HEAD_BYTES) {
          this.refuse(
            pending,
            'HTTP_RESPONSE_TOO_LARGE',
            overLimit('a response head', received.length, MAX_RESPONSE_HEAD_BYTES),
          );
          return;
        }
        this.buffered = received;
        return;
      }
      const unreadable = this.readHead(pending, received.toString('latin1', 0, headEnd));
      if (unreadable !== undefined) {
        this.refuse(
          pending,
          'HTTP_MALFORMED_RESPONSE',
          unreadable === NOT_HTTP ? notHttp(received.subarray(0, headEnd)) : unreadable,
        );
        return;
      }
      pending.headEnd = headEnd;
    }
    const bodyStart = pending.headEnd + HEAD_END.length;
    const declared = pending.contentLength;
    if ((declared ?? received.length - bodyStart) > MAX_DEVICE_RESPONSE_BYTES) {
      this.refuse(
        pending,
        'HTTP_RESPONSE_TOO_LARGE',
        overLimit('a response body', declared ?? received.length - bodyStart, MAX_DEVICE_RESPONSE_BYTES),
      );
      return;
    }
    if (declared === undefined || received.length < bodyStart + declared) {
      this.buffered = received;
      return;
    }
    this.complete(pending, received, received.subarray(bodyStart, bodyStart + declared));
  }

  /** Ends the request in flight on an answer the harness will not read further, and drops the connection. */
  private refuse(
    pending: Pending,
    code: 'HTTP_RESPONSE_TOO_LARGE' | 'HTTP_MALFORMED_RESPONSE',
    what: string,
  ): void {
    this.retire();
    const { request } = pending;
    this.fail(
      pending,
      this.target.stepError(code, request.step, `(${request.method} ${request.path}) ${what}`),
    );
  }

  /** Status, Content-Length and Connection from the head; what is wrong with it, or undefined. */
  private readHead(pending: Pending, head: string): string | undefined {
    if (!head.startsWith('HTTP/1.') || head.charCodeAt(8) !== 32) return NOT_HTTP;
    const status = Number(head.slice(9, 12));
    if (!Number.isInteger(status) || status < 100) return NOT_HTTP;
    let keepAlive = head.charCodeAt(7) !== 48; // HTTP/1.0 closes unless it says keep-alive
    let close = false;
    let contentLength: number | undefined;
    let lineStart = head.indexOf('\r\n') + 2;
    while (lineStart > 1 && lineStart < head.length) {
      let lineEnd = head.indexOf('\r\n', lineStart);
      if (lineEnd < 0) lineEnd = head.length;
      const colon = head.indexOf(':', lineStart);
      const nameLength = colon - lineStart;
      // Only three names matter; their lengths spare lower-casing every other header.
      if (
        colon > lineStart &&
        colon < lineEnd &&
        (nameLength === 14 || nameLength === 10 || nameLength === 17)
      ) {
        const name = head.slice(lineStart, colon).toLowerCase();
        if (name === 'content-length') contentLength = Number(head.slice(colon + 1, lineEnd));
        else if (name === 'connection') {
          const value = head.slice(colon + 1, lineEnd).toLowerCase();
          if (value.includes('close')) close = true;
          else if (value.includes('keep-alive')) keepAlive = true;
        } else if (name === 'transfer-encoding')
          return 'answered with Transfer-Encoding, which a device answering by Content-Length never sends';
      }
      lineStart = lineEnd + 2;
    }
    if (contentLength !== undefined && !(Number.isInteger(contentLength) && contentLength >= 0))
      return 'answered a Content-Length that is not a byte count';
    pending.status = status;
    pending.close = close || !keepAlive;
    pending.contentLength = status < 200 || status === 204 || status === 304 ? 0 : contentLength;
    return undefined;
  }

  /** The device closed (FIN, reset or refused): a close-delimited answer ends here; anything else failed. */
  private peerClosed(): void {
    const pending = this.pending;
    const received = this.buffered;
    const code = this.socketErrorCode;
    this.retire();
    if (pending === undefined) return;
    if (pending.headEnd >= 0 && pending.contentLength === undefined && received !== undefined) {
      this.complete(pending, received, received.subarray(pending.headEnd + HEAD_END.length));
      return;
    }
    this.fail(
      pending,
      this.connectionError(
        pending.request,
        code,
        code === undefined ? 'the target closed the connection' : undefined,
      ),
    );
  }

  private complete(pending: Pending, received: Buffer, body: Buffer): void {
    this.pending = undefined;
    this.buffered = undefined;
    this.timer?.unref();
    if (pending.close) this.retire();
    const { status, request } = pending;
    const kept = request.read === 'on-error' && status >= 200 && status < 300 ? EMPTY : body;
    if (this.target.recording) {
      const headers: Record<string, string> = {};
      for (const [name, value] of parseHead(received.subarray(0, pending.headEnd + HEAD_END.length))
        ?.headers ?? [])
        headers[name.toLowerCase()] = value;
      this.target.record(request, pending.startedAt, status, headers, request.body?.length ?? 0, kept.length);
    }
    pending.resolve({ status, body: kept });
  }

  private fail(pending: Pending, error: HttpStepError): void {
    if (this.pending === pending) this.pending = undefined;
    this.timer?.unref();
    const { request } = pending;
    if (this.target.recording)
      this.target.record(
        request,
        pending.startedAt,
        undefined,
        {},
        request.body?.length ?? 0,
        0,
        error.message,
      );
    pending.reject(error);
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
const NOT_HTTP = 'not HTTP/1.x';

/** False once the bytes so far can no longer begin `HTTP/1.`. */
function startsLikeHttp(received: Buffer): boolean {
  const length = Math.min(received.length, HTTP_PREFIX.length);
  return received.toString('latin1', 0, length) === HTTP_PREFIX.slice(0, length);
}

function notHttp(bytes: Buffer): string {
  return `answered something that is not an HTTP/1.x response: ${describeBytes(bytes)}`;
}
