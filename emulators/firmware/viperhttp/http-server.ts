import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

/**
 * The HTTP/1.1 side of ViperHTTP's C server (reference/viperhttp-luartos-mqtt.md §1.8), written on
 * node:net because node:http can neither refuse at exactly 4096 buffered bytes nor count requests
 * per connection the way `vhttp_server_task.c` does.
 */

/** One parsed request. The body is a view into the receive buffer: no copy on the chunk path. */
export interface HttpRequest {
  readonly method: string;
  /** The path without the query string, as sent. */
  readonly path: string;
  /** Query parameters, percent-decoded; the first value of a repeated key wins. */
  readonly query: ReadonlyMap<string, string>;
  /** Header names lower-cased; the first value of a repeated header wins. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

/** What a route answers: a JSON body, a C-server text/plain error, or nothing (the chip reset). */
export type HttpReply =
  | { readonly kind: 'json'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'text'; readonly status: number }
  | { readonly kind: 'drop' };

export type HttpHandler = (request: HttpRequest) => HttpReply | Promise<HttpReply>;

export interface HttpServerLimits {
  /** `VHTTP_RECV_BUF_SIZE`: request line + headers + body must fit. */
  receiveBufferSize: number;
  /** `VHTTP_MAX_KEEPALIVE_REQUESTS`: the server closes after answering this many on one connection. */
  maxKeepAliveRequests: number;
  /** `VHTTP_SERVER_IDLE_TIMEOUT_MS`: a new connection must deliver its first request within this. */
  firstRequestIdleMs: number;
  /** `VHTTP_KEEPALIVE_IDLE_TIMEOUT_MS`: silence allowed between keep-alive requests. */
  keepAliveIdleMs: number;
  /** `VHTTP_MAX_HEADERS`. */
  maxHeaders: number;
  /** `VHTTP_MAX_URI_LEN`. */
  maxUriLength: number;
  /** `VHTTP_MAX_QUERY_PARAMS`. */
  maxQueryParams: number;
  /**
   * The answer to `Transfer-Encoding: chunked`: the event-loop path says 400, the worker path
   * 501 (§1.8). Which path serves a request depends on the build, so it is a setting.
   */
  chunkedStatus: 400 | 501;
}

export const VIPERHTTP_LIMITS: Readonly<HttpServerLimits> = {
  receiveBufferSize: 4096,
  maxKeepAliveRequests: 16,
  firstRequestIdleMs: 5000,
  keepAliveIdleMs: 10_000,
  maxHeaders: 24,
  maxUriLength: 512,
  maxQueryParams: 16,
  chunkedStatus: 400,
};

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** Deliberate departures from the C server, for the profile's defect catalog. */
export interface HttpServerQuirks {
  /** `no-413-close`: a too-large request gets its 413, its body is skipped, the connection stays open. */
  keepsConnectionAfter413: boolean;
  /** `accepts-chunked`: a `Transfer-Encoding: chunked` body is decoded and served. */
  decodesChunked: boolean;
}

const NO_QUIRKS: HttpServerQuirks = { keepsConnectionAfter413: false, decodesChunked: false };

export interface StartHttpServerOptions {
  host: string;
  port: number;
  handler: HttpHandler;
  limits?: Partial<HttpServerLimits>;
  quirks?: Partial<HttpServerQuirks>;
}

export interface StartedHttpServer {
  readonly host: string;
  readonly port: number;
  /** Closes the listener and destroys every open connection, as a chip reset does. */
  stop(): void;
}

export async function startHttpServer(options: StartHttpServerOptions): Promise<StartedHttpServer> {
  const limits: HttpServerLimits = { ...VIPERHTTP_LIMITS, ...options.limits };
  const quirks: HttpServerQuirks = { ...NO_QUIRKS, ...options.quirks };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new Connection(socket, options.handler, limits, quirks);
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('the HTTP server has no TCP address');
  return {
    host: options.host,
    port: address.port,
    stop: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
  };
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One client connection: a bounded receive buffer, one request at a time, a request budget. */
class Connection {
  private pending: Buffer = Buffer.alloc(0);
  private busy = false;
  private served = 0;
  private closing = false;
  /** Bytes of a refused request still to arrive and be dropped (`no-413-close` only). */
  private skipping = 0;

  constructor(
    private readonly socket: Socket,
    private readonly handler: HttpHandler,
    private readonly limits: HttpServerLimits,
    private readonly quirks: HttpServerQuirks,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(limits.firstRequestIdleMs);
    socket.on('timeout', () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (data: Buffer) => this.receive(data));
  }

  private receive(data: Buffer): void {
    if (this.closing) return;
    if (this.skipping > 0) {
      const dropped = Math.min(this.skipping, data.length);
      this.skipping -= dropped;
      data = data.subarray(dropped);
      if (data.length === 0) return;
    }
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    if (!this.busy) this.processPending();
  }

  private processPending(): void {
    while (!this.busy && !this.closing && this.pending.length > 0) {
      const parsed = parseRequest(this.pending, this.limits, this.quirks);
      if (parsed.kind === 'incomplete') {
        // The C server keeps reading until its one buffer is full; only then is it "too large".
        if (this.pending.length >= this.limits.receiveBufferSize) {
          if (this.quirks.keepsConnectionAfter413) this.refuseAndSkip(declaredLength(this.pending));
          else this.refuse(413);
        }
        return;
      }
      if (parsed.kind === 'error') {
        this.refuse(parsed.status);
        return;
      }
      // A request longer than the buffer never parses on the chip, however it arrives here.
      if (parsed.length > this.limits.receiveBufferSize) {
        if (this.quirks.keepsConnectionAfter413) {
          this.refuseAndSkip(parsed.length);
          continue;
        }
        this.refuse(413);
        return;
      }
      this.pending = this.pending.subarray(parsed.length);
      this.dispatch(parsed.request, parsed.keepAlive);
    }
  }

  private dispatch(request: HttpRequest, keepAlive: boolean): void {
    this.busy = true;
    this.socket.setTimeout(0);
    let reply: HttpReply | Promise<HttpReply>;
    try {
      reply = this.handler(request);
    } catch {
      reply = { kind: 'text', status: 500 };
    }
    if (reply instanceof Promise) {
      reply.then(
        (value) => this.respond(value, keepAlive),
        () => this.respond({ kind: 'text', status: 500 }, keepAlive),
      );
    } else {
      this.respond(reply, keepAlive);
    }
  }

  private respond(reply: HttpReply, keepAlive: boolean): void {
    if (this.socket.destroyed) return;
    if (reply.kind === 'drop') {
      this.closing = true;
      this.socket.resetAndDestroy();
      return;
    }
    this.served++;
    const close = !keepAlive || this.served >= this.limits.maxKeepAliveRequests;
    const [contentType, body] =
      reply.kind === 'json'
        ? ['application/json', JSON.stringify(reply.body)]
        : ['text/plain', reasonPhrase(reply.status)];
    this.socket.write(
      `HTTP/1.1 ${reply.status} ${reasonPhrase(reply.status)}\r\nContent-Type: ${contentType}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: ${close ? 'close' : 'keep-alive'}\r\n\r\n${body}`,
    );
    if (close) {
      this.closing = true;
      this.socket.end();
      return;
    }
    this.busy = false;
    this.socket.setTimeout(this.limits.keepAliveIdleMs);
    this.processPending();
  }

  /** `no-413-close`: the 413 goes out as a keep-alive answer and the rest of the request is dropped. */
  private refuseAndSkip(requestLength: number | undefined): void {
    const buffered = this.pending.length;
    this.pending =
      requestLength === undefined
        ? Buffer.alloc(0)
        : this.pending.subarray(Math.min(requestLength, buffered));
    if (requestLength !== undefined && requestLength > buffered) this.skipping = requestLength - buffered;
    this.served++;
    const body = reasonPhrase(413);
    this.socket.write(
      `HTTP/1.1 413 ${body}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
        `Connection: keep-alive\r\n\r\n${body}`,
    );
    this.socket.setTimeout(this.limits.keepAliveIdleMs);
  }

  /** A transport error: a text/plain answer, then the connection is closed. */
  private refuse(status: number): void {
    this.closing = true;
    this.pending = Buffer.alloc(0);
    const body = reasonPhrase(status);
    this.socket.end(
      `HTTP/1.1 ${status} ${body}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
}

export type ParseOutcome =
  | { kind: 'incomplete' }
  | { kind: 'error'; status: number }
  | { kind: 'request'; request: HttpRequest; length: number; keepAlive: boolean };

const INCOMPLETE: ParseOutcome = { kind: 'incomplete' };

/** Head plus declared body of the request at the start of `buffer`, when its head is complete. */
function declaredLength(buffer: Buffer): number | undefined {
  const headerEnd = buffer.indexOf(HEADER_END);
  if (headerEnd === -1) return undefined;
  const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(buffer.toString('latin1', 0, headerEnd))?.[1];
  return length === undefined ? undefined : headerEnd + HEADER_END.length + Number(length);
}

/** The request at the start of `buffer` (exported for its fuzz target, not from the folder's index). */
export function parseRequest(
  buffer: Buffer,
  limits: HttpServerLimits,
  quirks: HttpServerQuirks = NO_QUIRKS,
): ParseOutcome {
  const headerEnd = buffer.indexOf(HEADER_END);
  if (headerEnd === -1) return INCOMPLETE;
  const lines = buffer.toString('latin1', 0, headerEnd).split('\r\n');
  const requestLine = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0] ?? '');
  if (!requestLine) return { kind: 'error', status: 400 };
  const [, method, target, minor] = requestLine as unknown as [string, string, string, string];
  if (target.length > limits.maxUriLength) return { kind: 'error', status: 400 };
  if (lines.length - 1 > limits.maxHeaders) return { kind: 'error', status: 400 };
  const headers = new Map<string, string>();
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return { kind: 'error', status: 400 };
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  // The parser has no chunked decoder: it reports UNSUPPORTED (vhttp_parser.c 276–278).
  const transferEncoding = headers.get('transfer-encoding');
  const chunked = transferEncoding !== undefined && transferEncoding.toLowerCase() !== 'identity';
  if (chunked && !(quirks.decodesChunked && transferEncoding.toLowerCase() === 'chunked')) {
    return { kind: 'error', status: limits.chunkedStatus };
  }
  const lengthText = headers.get('content-length');
  let contentLength = 0;
  if (lengthText !== undefined) {
    if (!/^\d+$/.test(lengthText)) return { kind: 'error', status: 400 };
    contentLength = Number(lengthText);
  }
  const bodyStart = headerEnd + HEADER_END.length;
  let body: Buffer;
  let total: number;
  if (chunked) {
    const decoded = decodeChunkedBody(buffer, bodyStart);
    if (decoded.kind !== 'body')
      return decoded.kind === 'incomplete' ? INCOMPLETE : { kind: 'error', status: 400 };
    body = decoded.body;
    total = decoded.end;
  } else {
    total = bodyStart + contentLength;
    if (buffer.length < total) return INCOMPLETE;
    body = buffer.subarray(bodyStart, total);
  }
  const question = target.indexOf('?');
  const path = question === -1 ? target : target.slice(0, question);
  const query = parseQuery(question === -1 ? '' : target.slice(question + 1), limits.maxQueryParams);
  if (query === undefined) return { kind: 'error', status: 400 };
  const connection = headers.get('connection')?.toLowerCase();
  const keepAlive = minor === '1' ? connection !== 'close' : connection === 'keep-alive';
  return {
    kind: 'request',
    request: { method, path, query, headers, body },
    length: total,
    keepAlive,
  };
}

type ChunkedOutcome =
  | { kind: 'incomplete' }
  | { kind: 'error' }
  | { kind: 'body'; body: Buffer; end: number };

/** RFC 9112 §7.1 chunked coding, without trailers: what the `accepts-chunked` build adds. */
function decodeChunkedBody(buffer: Buffer, start: number): ChunkedOutcome {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at);
    if (lineEnd === -1) return { kind: 'incomplete' };
    const sizeText = buffer.toString('latin1', at, lineEnd).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) return { kind: 'error' };
    const size = Number.parseInt(sizeText, 16);
    const dataStart = lineEnd + 2;
    if (size === 0) {
      if (buffer.length < dataStart + 2) return { kind: 'incomplete' };
      return { kind: 'body', body: Buffer.concat(parts), end: dataStart + 2 };
    }
    if (buffer.length < dataStart + size + 2) return { kind: 'incomplete' };
    parts.push(buffer.subarray(dataStart, dataStart + size));
    at = dataStart + size + 2;
  }
}

/** `a=1&b=x%20y`; undefined when there are more parameters than the server keeps. */
export function parseQuery(
  text: string,
  maxParams = Number.POSITIVE_INFINITY,
): Map<string, string> | undefined {
  const query = new Map<string, string>();
  if (text === '') return query;
  let count = 0;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    if (++count > maxParams) return undefined;
    const equals = pair.indexOf('=');
    const key = decodeComponent(equals === -1 ? pair : pair.slice(0, equals));
    const value = equals === -1 ? '' : decodeComponent(pair.slice(equals + 1));
    if (!query.has(key)) query.set(key, value);
  }
  return query;
}

function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}
