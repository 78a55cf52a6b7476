import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { noteImageSent } from '../image-ledger/index.ts';
import { UpdateServerError } from './errors.ts';
import { copyRecordedRequest, type RecordedRequest } from './recorded-request.ts';
import { findHeadEnd, MAX_REQUEST_HEAD_BYTES, parseRequestHead, RequestHeadError } from './request-head.ts';
import { bodyPieces, planResponse, type ResponsePlan } from './response-plan.ts';
import type { Routes, Script, ScriptedResponse } from './script.ts';

export interface UpdateServerTlsOptions {
  key: string | Buffer;
  cert: string | Buffer;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /**
   * OpenSSL cipher string. When `minVersion` is below TLSv1.2 and this is left out, the server uses
   * `DEFAULT@SECLEVEL=0`: OpenSSL 3 refuses TLS 1.0/1.1 at its default security level (the
   * handshake fails with alert 80, internal error).
   */
  ciphers?: string;
}

/** Piece size of a counted body (onBodySent): one TCP segment's worth on a 1500-byte MTU. */
const SENT_STEP = 1460;

export interface UpdateServerOptions {
  /** Loopback by default; a lab rig binds the address its boards can reach. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  tls?: UpdateServerTlsOptions;
  routes?: Routes;
  /** Bodies that scripts name with `{ image: name }`, so a test can swap the image a route serves. */
  images?: Readonly<Record<string, Uint8Array>>;
}

export interface WaitForRequestOptions {
  timeoutMs?: number;
  /** Named in the timeout error, so a failure says which step of the scenario never happened. */
  step?: string;
  /** Resolve when the request head has arrived (default) or once its response has ended. */
  until?: 'received' | 'ended';
}

export interface HandshakeFailure {
  at: number;
  remoteAddress: string;
  code: string;
  message: string;
}

export interface StartedUpdateServer {
  /** `http://host:port` or `https://host:port`, no trailing slash. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Snapshots of every request so far, oldest first. */
  requests(): RecordedRequest[];
  /**
   * TLS handshakes the server saw fail (wrong version, no shared cipher). Under TLS 1.3 a client that
   * rejects the certificate says so after the server's side of the handshake is done, so that case
   * shows only on the client.
   */
  handshakeFailures(): HandshakeFailure[];
  /** Replaces the script for one path and restarts its list from the first entry. */
  setScript(path: string, script: Script): void;
  setRoutes(routes: Routes): void;
  setImage(name: string, image: Uint8Array): void;
  waitForRequest(
    predicate: (request: RecordedRequest) => boolean,
    options?: WaitForRequestOptions,
  ): Promise<RecordedRequest>;
  /** Closes the listener and cuts every connection, stalled ones included. */
  stop(): Promise<void>;
}

const now = (): number => performance.timeOrigin + performance.now();

interface Waiter {
  predicate: (request: RecordedRequest) => boolean;
  until: 'received' | 'ended';
  resolve(request: RecordedRequest): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface RouteState {
  script: Script;
  served: number;
}

function checkScript(path: string, script: Script): void {
  if (Array.isArray(script) && script.length === 0) {
    throw new UpdateServerError('UPDATE_SERVER_BAD_SCRIPT', `the script for ${path} is an empty list`);
  }
}

function describe(request: RecordedRequest): string {
  return `${request.method} ${request.target} → ${request.status ?? '…'} (${request.outcome})`;
}

class UpdateServerCore {
  readonly records: RecordedRequest[] = [];
  readonly handshakeFailures: HandshakeFailure[] = [];
  private readonly routes = new Map<string, RouteState>();
  private readonly images = new Map<string, Uint8Array>();
  private readonly waiters = new Set<Waiter>();
  readonly connections = new Set<Connection>();
  readonly rawSockets = new Set<net.Socket>();
  private nextConnectionId = 0;
  stopped = false;
  origin = '';

  constructor(options: UpdateServerOptions) {
    for (const [path, script] of Object.entries(options.routes ?? {})) this.setScript(path, script);
    for (const [name, image] of Object.entries(options.images ?? {})) this.images.set(name, image);
  }

  setScript(path: string, script: Script): void {
    checkScript(path, script);
    this.routes.set(path, { script, served: 0 });
  }

  setImage(name: string, image: Uint8Array): void {
    noteImageSent(image, 'update server');
    this.images.set(name, image);
  }

  resolveImage = (name: string): Uint8Array | undefined => this.images.get(name);

  async pickResponse(request: RecordedRequest): Promise<ScriptedResponse> {
    const route = this.routes.get(request.path) ?? this.routes.get('*');
    if (!route) return { status: 404 };
    const { script } = route;
    const turn = route.served++;
    if (typeof script === 'function') return await script(copyRecordedRequest(request));
    if (Array.isArray(script)) return script[Math.min(turn, script.length - 1)]!;
    return script as ScriptedResponse;
  }

  adopt(socket: net.Socket, tlsInfo?: RecordedRequest['tls']): void {
    const connection = new Connection(socket, this, this.nextConnectionId++, tlsInfo);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }

  record(request: RecordedRequest): void {
    this.records.push(request);
    this.notify(request, 'received');
  }

  ended(request: RecordedRequest): void {
    request.endedAt ??= now();
    this.notify(request, 'ended');
  }

  private notify(request: RecordedRequest, event: 'received' | 'ended'): void {
    for (const waiter of this.waiters) {
      if (event === 'received' && waiter.until === 'ended') continue;
      if (waiter.until === 'ended' && request.endedAt === undefined) continue;
      let matches = false;
      try {
        matches = waiter.predicate(copyRecordedRequest(request));
      } catch (error) {
        this.settle(waiter);
        waiter.reject(error as Error);
        continue;
      }
      if (matches) {
        this.settle(waiter);
        waiter.resolve(copyRecordedRequest(request));
      }
    }
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
  }

  waitForRequest(
    predicate: (request: RecordedRequest) => boolean,
    options: WaitForRequestOptions,
  ): Promise<RecordedRequest> {
    const { timeoutMs = 5000, step = 'waiting for a request', until = 'received' } = options;
    const already = this.records.find(
      (request) =>
        (until === 'received' || request.endedAt !== undefined) && predicate(copyRecordedRequest(request)),
    );
    if (already) return Promise.resolve(copyRecordedRequest(already));
    if (this.stopped) {
      return Promise.reject(
        new UpdateServerError(
          'UPDATE_SERVER_STOPPED',
          `step "${step}": the update server is already stopped`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        until,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.settle(waiter);
          const seen = this.records.map(describe);
          reject(
            new UpdateServerError(
              'UPDATE_SERVER_WAIT_TIMEOUT',
              `step "${step}": no matching request ${until === 'ended' ? 'finished' : 'arrived'} within ${timeoutMs} ms; ` +
                `the server saw ${seen.length} request(s)${seen.length > 0 ? `: ${seen.join('; ')}` : ''}`,
            ),
          );
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  failWaiters(): void {
    for (const waiter of this.waiters) {
      this.settle(waiter);
      waiter.reject(
        new UpdateServerError('UPDATE_SERVER_STOPPED', 'the update server stopped before a matching request'),
      );
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** One client connection: parses requests in order and answers each from its route's script. */
class Connection {
  private buffered: Buffer = EMPTY;
  private busy = false;
  private closed = false;
  private closing = false;
  private served = 0;
  private headStartedAt: number | undefined;
  private readonly remoteAddress: string;
  private readonly remotePort: number;
  private wakeOnClose: (() => void)[] = [];

  constructor(
    private readonly socket: net.Socket,
    private readonly core: UpdateServerCore,
    private readonly id: number,
    private readonly tlsInfo: RecordedRequest['tls'],
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A reset from the client surfaces as an error; the close that follows is what we act on.
    socket.on('error', () => {});
    socket.once('close', () => {
      this.closed = true;
      for (const wake of this.wakeOnClose.splice(0)) wake();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    if (this.buffered.length === 0) this.headStartedAt ??= now();
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (!this.busy) this.pump();
  }

  private pump(): void {
    if (this.closing || this.closed || this.buffered.length === 0) return;
    const headEnd = findHeadEnd(this.buffered);
    if (headEnd === -1) {
      if (this.buffered.length > MAX_REQUEST_HEAD_BYTES) {
        this.refuse(431, 'request head larger than 64 KiB', this.buffered.subarray(0, 200));
      }
      return;
    }
    const startedAt = this.headStartedAt ?? now();
    let head: ReturnType<typeof parseRequestHead>;
    try {
      head = parseRequestHead(this.buffered.subarray(0, headEnd));
    } catch (error) {
      const status = error instanceof RequestHeadError ? error.status : 400;
      this.refuse(status, (error as Error).message, this.buffered.subarray(0, headEnd));
      return;
    }
    const lowerNames = head.headers.map(([name, value]) => [name.toLowerCase(), value] as const);
    if (lowerNames.some(([name]) => name === 'transfer-encoding')) {
      this.refuse(
        501,
        'chunked request bodies are not supported by the update server',
        this.buffered.subarray(0, headEnd),
      );
      return;
    }
    const lengthValue = lowerNames.find(([name]) => name === 'content-length')?.[1];
    const bodyLength = lengthValue === undefined ? 0 : Number(lengthValue);
    if (!Number.isSafeInteger(bodyLength) || bodyLength < 0) {
      this.refuse(
        400,
        `bad Content-Length ${JSON.stringify(lengthValue)}`,
        this.buffered.subarray(0, headEnd),
      );
      return;
    }
    if (this.buffered.length < headEnd + bodyLength) return;
    this.buffered = this.buffered.subarray(headEnd + bodyLength);
    this.headStartedAt = this.buffered.length > 0 ? now() : undefined;
    const request = this.newRecord(head, bodyLength, startedAt);
    this.core.record(request);
    this.busy = true;
    void this.answer(request).then(() => {
      this.busy = false;
      this.pump();
    });
  }

  private newRecord(
    head: ReturnType<typeof parseRequestHead>,
    bodyLength: number,
    startedAt: number,
  ): RecordedRequest {
    const questionMark = head.target.indexOf('?');
    const rawPath = questionMark === -1 ? head.target : head.target.slice(0, questionMark);
    const rawQuery = questionMark === -1 ? '' : head.target.slice(questionMark + 1);
    // An absolute-form target (proxies, some clients) still routes by its path.
    const path = /^https?:\/\//i.test(rawPath) ? new URL(rawPath).pathname : rawPath;
    const request: RecordedRequest = {
      index: this.core.records.length,
      connectionId: this.id,
      indexOnConnection: this.served++,
      method: head.method,
      target: head.target,
      path,
      rawQuery,
      query: Object.fromEntries(new URLSearchParams(rawQuery)),
      httpVersion: head.httpVersion,
      requestLine: head.requestLine,
      rawHeaderLines: head.rawHeaderLines,
      headers: head.headers,
      bodyLength,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      startedAt,
      headersReceivedAt: now(),
      bytesSent: 0,
      bodyBytesSent: 0,
      outcome: 'in-progress',
    };
    if (this.tlsInfo) request.tls = { ...this.tlsInfo };
    return request;
  }

  /** Answers a request we could not even record properly, records it as best we can, and closes. */
  private refuse(status: 400 | 431 | 501 | 505, why: string, head: Buffer): void {
    this.closing = true;
    const firstLine = head.toString('latin1').split(/\r?\n/)[0] ?? '';
    const request: RecordedRequest = {
      ...this.newRecord(
        { method: '', target: '', httpVersion: '', requestLine: firstLine, rawHeaderLines: [], headers: [] },
        0,
        this.headStartedAt ?? now(),
      ),
      outcome: 'bad-request',
      error: why,
      status,
    };
    this.core.record(request);
    const text = `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
    request.responseStartedAt = now();
    request.bytesSent = text.length;
    this.socket.end(text, 'latin1');
    this.core.ended(request);
  }

  private async answer(request: RecordedRequest): Promise<void> {
    let plan: ResponsePlan;
    try {
      const scripted = await this.core.pickResponse(request);
      plan = planResponse(scripted, request, this.core);
    } catch (error) {
      request.outcome = 'script-error';
      request.error = (error as Error).message;
      plan = planResponse({ status: 500, headers: [['Connection', 'close']] }, request, this.core);
    }
    if (plan.delayMs > 0 && !(await this.delay(plan.delayMs))) return this.finish(request, this.cutOutcome());
    if (this.closed) return this.finish(request, this.cutOutcome());

    request.responseStartedAt = now();
    request.status = plan.status;
    const pieces = bodyPieces(plan);
    this.socket.cork();
    this.socket.write(plan.head);
    request.bytesSent += plan.head.length;
    if (plan.onBodySent) {
      this.socket.uncork();
      if (!(await this.sendCounted(request, pieces, plan.onBodySent)))
        return this.finish(request, this.cutOutcome());
    } else {
      for (const piece of pieces) {
        this.socket.write(piece);
        request.bytesSent += piece.length;
        request.bodyBytesSent += piece.length;
      }
      this.socket.uncork();
    }

    // A limit at or past the body's end still applies: the stall or reset then follows the whole body.
    const then = plan.sendLimit?.action;
    if (then === 'drop') {
      // Let the bytes reach the kernel before the reset, or the reset would discard them here.
      if (!(await this.flushed())) return this.finish(request, this.cutOutcome());
      this.closing = true;
      this.reset();
      return this.finish(request, 'dropped');
    }
    if (then === 'stall') {
      this.closing = true;
      request.outcome = 'stalled';
      await this.untilClosed();
      return this.finish(request, 'stalled');
    }
    if (!(await this.drained())) return this.finish(request, this.cutOutcome());
    if (then === 'truncate') {
      this.closing = true;
      this.socket.end();
      return this.finish(request, 'truncated');
    }
    if (plan.closeAfter) {
      this.closing = true;
      this.socket.end();
    }
    this.finish(request, request.outcome === 'script-error' ? 'script-error' : 'complete');
  }

  private finish(request: RecordedRequest, outcome: RecordedRequest['outcome']): void {
    request.outcome = outcome;
    this.core.ended(request);
  }

  private cutOutcome(): RecordedRequest['outcome'] {
    return this.core.stopped ? 'stopped' : 'client-closed';
  }

  private reset(): void {
    // A TLSSocket's own handle is a TLSWrap, which cannot reset; the TCP socket under it (Node's
    // `_parent`) can. Without it the connection still closes, only without the RST.
    const tcp =
      this.socket instanceof tls.TLSSocket ? (this.socket as { _parent?: net.Socket })._parent : this.socket;
    try {
      if (!tcp) throw new Error('no TCP socket under this TLS socket');
      tcp.resetAndDestroy();
      this.socket.destroy();
    } catch {
      this.socket.destroy();
    }
  }

  /** Resolves true after `ms`, or false as soon as the connection closes. */
  private delay(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeOnClose = this.wakeOnClose.filter((wake) => wake !== onClose);
        resolve(true);
      }, ms);
      const onClose = () => {
        clearTimeout(timer);
        resolve(false);
      };
      this.wakeOnClose.push(onClose);
    });
  }

  private untilClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.wakeOnClose.push(resolve));
  }

  /** True once the socket's buffer has been handed to the kernel; false if the socket closed first. */
  /**
   * The body in SENT_STEP pieces, each handed over once the socket has drained the last, with the
   * running count reported after each (ScriptedResponse.onBodySent). False: the peer went away.
   */
  private async sendCounted(
    request: RecordedRequest,
    pieces: readonly Uint8Array[],
    onBodySent: (piece: number, sentInRequest: number) => void,
  ): Promise<boolean> {
    for (const piece of pieces) {
      for (let offset = 0; offset < piece.length; offset += SENT_STEP) {
        if (!(await this.drained())) return false;
        const slice = piece.subarray(offset, offset + SENT_STEP);
        this.socket.write(slice);
        request.bytesSent += slice.length;
        request.bodyBytesSent += slice.length;
        onBodySent(slice.length, request.bodyBytesSent);
        // Let a caller that switches power at this count act before the next piece goes.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return true;
  }

  private drained(): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return Promise.resolve(false);
    if (!this.socket.writableNeedDrain) return Promise.resolve(true);
    return this.waitFor('drain');
  }

  /** Like `drained`, but also waits for a write smaller than the high-water mark to be written. */
  private flushed(): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onClose = () => resolve(false);
      this.wakeOnClose.push(onClose);
      this.socket.write(EMPTY, () => {
        this.wakeOnClose = this.wakeOnClose.filter((wake) => wake !== onClose);
        resolve(!this.closed);
      });
    });
  }

  private waitFor(event: 'drain'): Promise<boolean> {
    return new Promise((resolve) => {
      const onEvent = () => {
        this.wakeOnClose = this.wakeOnClose.filter((wake) => wake !== onClose);
        resolve(true);
      };
      const onClose = () => {
        this.socket.off(event, onEvent);
        resolve(false);
      };
      this.socket.once(event, onEvent);
      this.wakeOnClose.push(onClose);
    });
  }

  cut(): void {
    this.socket.destroy();
  }
}

function formatHost(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

function tlsServerOptions(options: UpdateServerTlsOptions): tls.TlsOptions {
  const legacy = options.minVersion === 'TLSv1' || options.minVersion === 'TLSv1.1';
  const result: tls.TlsOptions = { key: options.key, cert: options.cert };
  if (options.minVersion) result.minVersion = options.minVersion;
  if (options.maxVersion) result.maxVersion = options.maxVersion;
  const ciphers = options.ciphers ?? (legacy ? 'DEFAULT@SECLEVEL=0' : undefined);
  if (ciphers) result.ciphers = ciphers;
  return result;
}

/** Starts the HTTP (or, with `tls`, HTTPS) update server that pull-profile devices download from. */
export async function startUpdateServer(options: UpdateServerOptions = {}): Promise<StartedUpdateServer> {
  const { host = '127.0.0.1', port = 0 } = options;
  const core = new UpdateServerCore(options);
  let server: net.Server;
  if (options.tls) {
    const tlsServer = tls.createServer(tlsServerOptions(options.tls), (socket) => {
      const cipher = socket.getCipher();
      core.adopt(socket, {
        protocol: socket.getProtocol(),
        cipher: cipher.name,
        servername: (socket as tls.TLSSocket & { servername?: string | false }).servername ?? false,
      });
    });
    tlsServer.on('tlsClientError', (error: Error & { code?: string }, socket) => {
      core.handshakeFailures.push({
        at: now(),
        remoteAddress: socket.remoteAddress ?? '',
        code: error.code ?? 'ERR_TLS',
        message: error.message,
      });
    });
    server = tlsServer;
  } else {
    server = net.createServer((socket) => core.adopt(socket));
  }
  server.on('connection', (socket: net.Socket) => {
    core.rawSockets.add(socket);
    socket.once('close', () => core.rawSockets.delete(socket));
    // Handshake failures reach `tlsClientError`; this keeps a stray reset from becoming uncaught.
    socket.on('error', () => {});
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      reject(
        new UpdateServerError(
          'UPDATE_SERVER_LISTEN_FAILED',
          `cannot listen on ${host}:${port}: ${error.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  const url = `${options.tls ? 'https' : 'http'}://${formatHost(host)}:${address.port}`;
  core.origin = url;
  let stopping: Promise<void> | undefined;

  return {
    url,
    host,
    port: address.port,
    requests: () => core.records.map(copyRecordedRequest),
    handshakeFailures: () => core.handshakeFailures.map((failure) => ({ ...failure })),
    setScript: (path, script) => core.setScript(path, script),
    setRoutes: (routes) => {
      for (const [path, script] of Object.entries(routes)) core.setScript(path, script);
    },
    setImage: (name, image) => core.setImage(name, image),
    waitForRequest: (predicate, waitOptions = {}) => core.waitForRequest(predicate, waitOptions),
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        core.stopped = true;
        server.close(() => resolve());
        for (const connection of core.connections) connection.cut();
        for (const socket of core.rawSockets) socket.destroy();
        core.failWaiters();
      });
      return stopping;
    },
  };
}
