import net from 'node:net';
import tls from 'node:tls';

/** What came back on the wire, byte for byte, and how the connection ended. */
export interface RawResponse {
  statusLine: string;
  /** Header lines exactly as sent, without line endings. */
  headerLines: string[];
  body: Buffer;
  /**
   * `length`: Content-Length bytes arrived; `end`: the server closed; `reset`: ECONNRESET. libuv
   * reports a reset that follows data it has read as a plain end, so `end` does not rule out a reset.
   */
  ending: 'length' | 'end' | 'reset';
}

export interface RawExchangeOptions {
  port: number;
  host?: string;
  /** The request bytes, sent in one write, exactly as given. */
  request: string | Buffer;
  /** Connect with TLS using these options instead of plain TCP. */
  tls?: tls.ConnectionOptions;
  /** Keep reading past Content-Length until the server closes, to see every byte it sent. */
  readToEnd?: boolean;
  /** Called with the byte count of the body received so far, after every chunk. */
  onBody?(bodyBytes: number): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Test support: a client that does no HTTP processing at all, so tests see header case, order and
 * framing exactly as the update server put them on the wire (undici would normalise them).
 */
export function rawExchange(options: RawExchangeOptions): Promise<RawResponse> {
  const { port, host = '127.0.0.1' } = options;
  return new Promise((resolve, reject) => {
    const socket = options.tls
      ? tls.connect({ port, host, ...options.tls })
      : net.connect({ port, host, noDelay: true });
    const chunks: Buffer[] = [];
    let received = 0;
    let headEnd = -1;
    let declared: number | undefined;
    let settled = false;
    const finish = (ending: RawResponse['ending']) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const all = Buffer.concat(chunks);
      if (headEnd === -1) {
        reject(
          new Error(
            `connection ended (${ending}) before a complete response head: ${JSON.stringify(all.toString('latin1'))}`,
          ),
        );
        return;
      }
      const [statusLine = '', ...headerLines] = all.subarray(0, headEnd).toString('latin1').split('\r\n');
      resolve({ statusLine, headerLines, body: all.subarray(headEnd + 4), ending });
    };
    socket.once(options.tls ? 'secureConnect' : 'connect', () => socket.write(options.request));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (headEnd === -1) {
        headEnd = Buffer.concat(chunks).indexOf(HEAD_END);
        if (headEnd !== -1) {
          const head = Buffer.concat(chunks).subarray(0, headEnd).toString('latin1');
          const length = /\r\nContent-Length: *(\d+)/i.exec(head)?.[1];
          declared = length === undefined ? undefined : Number(length);
        }
      }
      if (headEnd === -1) return;
      const bodyBytes = received - headEnd - 4;
      options.onBody?.(bodyBytes);
      if (!options.readToEnd && declared !== undefined && bodyBytes >= declared) finish('length');
    });
    socket.on('end', () => finish('end'));
    socket.on('close', () => finish('end'));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' && headEnd !== -1) finish('reset');
      else if (!settled) {
        settled = true;
        socket.destroy();
        reject(error);
      }
    });
  });
}

/** A request head from lines, CRLF-terminated, with the blank line that ends it. */
export function requestText(...lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}
