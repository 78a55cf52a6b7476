import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

/** One request as the device sent it: the raw head, split into the request line and header lines. */
export interface RecordedRequest {
  raw: string;
  requestLine: string;
  headerLines: string[];
  header(name: string): string | undefined;
}

/** What the test's server answers: a raw head and body, optionally cut short and left open or closed. */
export interface ScriptedAnswer {
  head: string;
  body?: Uint8Array;
  /** Send only this many body bytes. */
  sendBytes?: number;
  /** After a short body: close (default) or keep the connection open and silent. */
  afterShortBody?: 'close' | 'hang';
}

/**
 * A minimal update server on node:net, written from reference §3 rather than from the firmware:
 * it records each request head byte for byte and answers whatever the test scripts, including
 * answers a polite server would never give (304 with a body, a body shorter than announced).
 */
export class ScriptedUpdateServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private waiters: Array<() => void> = [];
  answer: (request: RecordedRequest, index: number) => ScriptedAnswer = () => ({ head: notModified() });

  private readonly secure: boolean;

  /** With `tls`, it serves HTTPS with that key and certificate. */
  constructor(tls?: { key: string; cert: string }) {
    this.secure = tls !== undefined;
    this.server =
      tls === undefined
        ? createServer((socket) => this.serve(socket))
        : createTlsServer({ key: tls.key, cert: tls.cert }, (socket) => this.serve(socket));
    this.server.on('tlsClientError', () => {});
  }

  async start(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as { port: number }).port;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  url(path = '/firmware.bin'): string {
    return `${this.secure ? 'https' : 'http'}://127.0.0.1:${this.port}${path}`;
  }

  async waitForRequests(count: number, timeoutMs = 5000): Promise<RecordedRequest> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} requests, got ${this.requests.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.requests[count - 1]!;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeAllListeners('data');
      const raw = received.subarray(0, end + 4).toString('latin1');
      const lines = raw.slice(0, -4).split('\r\n');
      const headerLines = lines.slice(1);
      const request: RecordedRequest = {
        raw,
        requestLine: lines[0] ?? '',
        headerLines,
        header: (name) => {
          const line = headerLines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
          return line?.slice(line.indexOf(':') + 1).trim();
        },
      };
      const index = this.requests.push(request) - 1;
      for (const wake of this.waiters.splice(0)) wake();
      const answer = this.answer(request, index);
      socket.write(answer.head);
      const body = answer.body ?? new Uint8Array(0);
      const sent = answer.sendBytes === undefined ? body : body.subarray(0, answer.sendBytes);
      socket.write(sent);
      if (answer.sendBytes !== undefined && answer.afterShortBody === 'hang') return;
      socket.end();
    });
  }
}

export function notModified(): string {
  return 'HTTP/1.0 304 Not Modified\r\n\r\n';
}

export function statusOnly(status: number, reason: string): string {
  return `HTTP/1.0 ${status} ${reason}\r\nContent-Length: 0\r\n\r\n`;
}

export function okHead(length: number | undefined, extra: Record<string, string> = {}): string {
  const lines = ['HTTP/1.0 200 OK', 'Content-Type: application/octet-stream'];
  if (length !== undefined) lines.push(`Content-Length: ${length}`);
  for (const [name, value] of Object.entries(extra)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
