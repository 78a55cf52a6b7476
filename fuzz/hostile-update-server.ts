import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, type SecureVersion, TLSSocket } from 'node:tls';
import { type HostileAnswer, keepOnLoopback } from './hostile-answers.ts';

export interface HostileServerTls {
  key: string;
  cert: string;
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
  ciphers?: string;
}

/** The longest request head read before the answer goes out anyway. */
const MAX_REQUEST_HEAD = 16 * 1024;
/** A client that sends no complete head in this time gets its answer all the same. */
const REQUEST_HEAD_WAIT_MS = 2000;

/**
 * The update server of the pull-side network fuzzing: plain node:net (TLS wrapped around each
 * accepted socket when asked, so a reset is a real RST under TLS too), loopback only. Each request
 * head that arrives gets the answer `answerFor(index, request)` draws: bytes, then a FIN, an RST or a
 * stall. It counts the requests, so the fuzzing knows the device is still asking.
 */
export class HostileUpdateServer {
  /** The kind of every answer given, in order (printed when a profile fails). */
  readonly served: HostileAnswer['kind'][] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly secure: SecureContext | undefined;
  private lastRequestAt = Date.now();
  private stopped = false;

  constructor(
    private readonly answerFor: (index: number, request: string, origin: string) => HostileAnswer,
    tls?: HostileServerTls,
  ) {
    this.secure =
      tls === undefined
        ? undefined
        : createSecureContext({
            key: tls.key,
            cert: tls.cert,
            ...(tls.minVersion ? { minVersion: tls.minVersion } : {}),
            ...(tls.maxVersion ? { maxVersion: tls.maxVersion } : {}),
            ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
          });
    this.server = createServer((socket) => this.accept(socket));
  }

  async start(port = 0): Promise<void> {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  get origin(): string {
    return `${this.secure ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  get answered(): number {
    return this.served.length;
  }

  /** Resolves once `count` answers went out; rejects when the device asked nothing for `silenceMs`. */
  async waitForAnswers(count: number, silenceMs: number): Promise<void> {
    this.lastRequestAt = Date.now();
    while (this.answered < count) {
      if (Date.now() - this.lastRequestAt > silenceMs) {
        throw new Error(
          `the device stopped downloading: no request for ${silenceMs} ms after ${this.answered} answers`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private accept(raw: Socket): void {
    this.sockets.add(raw);
    raw.on('close', () => this.sockets.delete(raw));
    raw.on('error', () => {});
    const socket: Socket =
      this.secure === undefined ? raw : new TLSSocket(raw, { isServer: true, secureContext: this.secure });
    socket.on('error', () => {});
    let received = Buffer.alloc(0);
    let answered = false;
    const respond = () => {
      if (answered || this.stopped) return;
      answered = true;
      clearTimeout(wait);
      this.timers.delete(wait);
      socket.removeAllListeners('data');
      this.lastRequestAt = Date.now();
      const index = this.served.length;
      const request = received.toString('latin1');
      const answer = keepOnLoopback(this.answerFor(index, request, this.origin), this.origin);
      this.served.push(answer.kind);
      void this.send(raw, socket, answer);
    };
    const wait = setTimeout(respond, REQUEST_HEAD_WAIT_MS);
    this.timers.add(wait);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.includes('\r\n\r\n') || received.length >= MAX_REQUEST_HEAD) respond();
    });
    socket.on('close', () => {
      clearTimeout(wait);
      this.timers.delete(wait);
    });
  }

  private async send(raw: Socket, socket: Socket, answer: HostileAnswer): Promise<void> {
    let offset = 0;
    for (const size of answer.pieces ?? []) {
      if (socket.destroyed || this.stopped) return;
      socket.write(answer.bytes.subarray(offset, offset + size));
      offset += size;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    if (socket.destroyed || this.stopped) return;
    socket.write(answer.bytes.subarray(offset), () => {
      if (this.stopped || raw.destroyed) return;
      if (answer.ending === 'reset') raw.resetAndDestroy();
      else if (answer.ending === 'close') socket.end();
      else {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          socket.end();
        }, answer.stallMs);
        this.timers.add(timer);
      }
    });
  }
}
