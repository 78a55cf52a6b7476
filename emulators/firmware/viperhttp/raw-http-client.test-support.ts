import { connect, type Socket } from 'node:net';

/**
 * A minimal HTTP/1.1 client on node:net for the tests, written from the wire format the reference
 * describes (Content-Length bodies, keep-alive, the server closing after a budget), so the
 * emulator's server is judged by something that is not itself.
 */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
  json(): unknown;
  text(): string;
}

export class ConnectionDroppedError extends Error {
  readonly code = 'CONNECTION_DROPPED';
}

export class RawHttpConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private endedValue = false;
  private errorValue: Error | undefined;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => {
      this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
      this.waiter?.();
    });
    socket.on('error', (error) => {
      this.errorValue = error;
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.endedValue = true;
        this.waiter?.();
        resolve();
      });
    });
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawHttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, host);
      socket.once('connect', () => resolve(new RawHttpConnection(socket)));
      socket.once('error', reject);
    });
  }

  get ended(): boolean {
    return this.endedValue;
  }

  /** Writes raw bytes (a whole request, or a part of one). */
  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  send(
    method: string,
    target: string,
    headers: Record<string, string> = {},
    body?: Buffer | string,
  ): Promise<RawResponse> {
    this.write(encodeRequest(method, target, headers, body));
    return this.readResponse();
  }

  async readResponse(): Promise<RawResponse> {
    for (;;) {
      const parsed = tryParseResponse(this.buffer);
      if (parsed) {
        this.buffer = this.buffer.subarray(parsed.length);
        return parsed.response;
      }
      if (this.endedValue || this.errorValue) {
        throw new ConnectionDroppedError(
          `connection closed before a response (${this.errorValue?.message ?? 'EOF'}; ${this.buffer.length} bytes pending)`,
        );
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = undefined;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export function encodeRequest(
  method: string,
  target: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Buffer {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1'];
  const names = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (!names.has('content-length') && !names.has('transfer-encoding'))
    lines.push(`Content-Length: ${payload.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

function tryParseResponse(buffer: Buffer): { response: RawResponse; length: number } | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine = '', ...headerLines] = buffer.toString('latin1', 0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`bad status line: ${statusLine}`);
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const length = Number(headers.get('content-length') ?? '0');
  if (buffer.length < end + 4 + length) return undefined;
  const body = Buffer.from(buffer.subarray(end + 4, end + 4 + length));
  return {
    length: end + 4 + length,
    response: {
      status: Number(match[1]),
      headers,
      body,
      json: () => JSON.parse(body.toString('utf8')),
      text: () => body.toString('utf8'),
    },
  };
}

/** One request on its own connection, as the E2E client's `requests` calls do. */
export async function rawRequest(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<RawResponse> {
  const connection = await RawHttpConnection.open(port);
  try {
    return await connection.send(method, target, { Connection: 'close', ...headers }, body);
  } finally {
    connection.close();
  }
}
