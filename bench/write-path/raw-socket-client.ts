import { connect, type Socket } from 'node:net';

/**
 * The floor a push client is measured against: the `viperhttp` upload over node:net with nothing
 * a protocol does not need. One keep-alive connection; each request (head and body) leaves in one
 * write; the response is read by its Content-Length; the next request opens a new connection only
 * when the device said `Connection: close` (it does after 16 requests, reference
 * viperhttp-luartos-mqtt.md §1.8) or dropped the connection while idle.
 */
export interface RawSocketClientOptions {
  host: string;
  port: number;
  token: string;
  timeoutMs: number;
}

export interface RawUploadResult {
  requests: number;
  connections: number;
  /** The finalize answer's body (JSON text). */
  finalizeBody: string;
}

export type RawSocketErrorCode = 'RAW_STATUS' | 'RAW_CONNECTION' | 'RAW_TIMEOUT' | 'RAW_RESPONSE';

export class RawSocketError extends Error {
  override readonly name = 'RawSocketError';

  constructor(
    readonly code: RawSocketErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface Answer {
  status: number;
  body: Buffer;
  close: boolean;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** One TCP connection that carries one request at a time. */
class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting:
    | { resolve: (answer: Answer) => void; reject: (error: RawSocketError) => void; step: string }
    | undefined;
  /** No new request may go out on it: the device closed or announced it will. */
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.receive(data));
    socket.on('close', () => this.fail('RAW_CONNECTION', 'the device closed the connection'));
    socket.on('error', (error) => this.fail('RAW_CONNECTION', error.message));
    socket.on('timeout', () => {
      this.fail('RAW_TIMEOUT', 'no answer in time');
      socket.destroy();
    });
  }

  static open(options: RawSocketClientOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port });
      socket.setTimeout(options.timeoutMs);
      const onError = (error: Error) =>
        reject(
          new RawSocketError(
            'RAW_CONNECTION',
            `connect to ${options.host}:${options.port}: ${error.message}`,
          ),
        );
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new Connection(socket));
      });
    });
  }

  exchange(request: Buffer, step: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject, step };
      this.socket.write(request);
    });
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private fail(code: RawSocketErrorCode, cause: string): void {
    this.closed = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(new RawSocketError(code, `step '${waiting.step}': ${cause}`));
  }

  private receive(data: Buffer): void {
    this.buffered = this.buffered.length === 0 ? data : Buffer.concat([this.buffered, data]);
    const headEnd = this.buffered.indexOf(HEAD_END);
    if (headEnd === -1) return;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!lengthMatch || !statusMatch) {
      this.fail('RAW_RESPONSE', `an answer without a status line or Content-Length: ${head.slice(0, 120)}`);
      this.socket.destroy();
      return;
    }
    const bodyStart = headEnd + HEAD_END.length;
    const bodyEnd = bodyStart + Number(lengthMatch[1]);
    if (this.buffered.length < bodyEnd) return;
    const answer: Answer = {
      status: Number(statusMatch[1]),
      body: this.buffered.subarray(bodyStart, bodyEnd),
      close: /\r\nconnection:\s*close/i.test(head),
    };
    this.buffered = this.buffered.subarray(bodyEnd);
    if (answer.close) this.closed = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve(answer);
  }
}

export class RawSocketClient {
  private connection: Connection | undefined;
  private readonly hostHeader: string;
  private connections = 0;
  private requests = 0;

  constructor(private readonly options: RawSocketClientOptions) {
    this.hostHeader = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  }

  /**
   * begin (force, expected size and digest), chunks with `?offset=`, finalize without set_boot or
   * reboot: the device verifies the digest, and the slot it wrote stays unbooted for the next run.
   */
  async upload(image: Uint8Array, sha256: string, chunkSize: number): Promise<RawUploadResult> {
    const requestsBefore = this.requests;
    const connectionsBefore = this.connections;
    await this.json('begin', { expected_size: image.length, expected_sha256: sha256, force: true });
    for (let offset = 0; offset < image.length; offset += chunkSize) {
      const chunk = image.subarray(offset, Math.min(offset + chunkSize, image.length));
      await this.send(
        `chunk @ offset ${offset}`,
        `/ota/chunk?offset=${offset}`,
        'application/octet-stream',
        chunk,
      );
    }
    const finalizeBody = await this.json('finalize', { set_boot: false, strict_size: true, reboot: false });
    return {
      requests: this.requests - requestsBefore,
      connections: this.connections - connectionsBefore,
      finalizeBody,
    };
  }

  close(): void {
    this.connection?.destroy();
    this.connection = undefined;
  }

  private async json(route: string, body: Record<string, unknown>): Promise<string> {
    const answer = await this.send(
      route,
      `/ota/${route}`,
      'application/json',
      Buffer.from(JSON.stringify(body)),
    );
    return answer.toString('utf8');
  }

  private async send(step: string, path: string, contentType: string, body: Uint8Array): Promise<Buffer> {
    const head =
      `POST ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\nX-OTA-Token: ${this.options.token}\r\n` +
      `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const headLength = Buffer.byteLength(head, 'latin1');
    const request = Buffer.allocUnsafe(headLength + body.length);
    request.write(head, 0, 'latin1');
    request.set(body, headLength);
    if (this.connection === undefined || this.connection.closed) {
      this.connection?.destroy();
      this.connection = await Connection.open(this.options);
      this.connections++;
    }
    this.requests++;
    const answer = await this.connection.exchange(request, step);
    if (answer.close) this.close();
    if (answer.status < 200 || answer.status >= 300) {
      throw new RawSocketError(
        'RAW_STATUS',
        `step '${step}' answered HTTP ${answer.status}: ${answer.body.toString('utf8').slice(0, 200)}`,
      );
    }
    return answer.body;
  }
}
