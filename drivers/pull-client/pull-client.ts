import net from 'node:net';
import tls from 'node:tls';
import {
  describeBytes,
  MAX_IMAGE_RESPONSE_BYTES,
  MAX_RESPONSE_HEAD_BYTES,
  overLimit,
} from '../http/response-limits.ts';

/** What a server answered, byte for byte: the harness plays a device and judges the wire. */
export interface PullResponse {
  statusLine: string;
  status: number;
  /** Header lines exactly as sent (case, spacing), without line endings. */
  headerLines: string[];
  /** The body's bytes (a chunked body decoded; `headerLines` still says it was chunked). */
  body: Buffer;
  /** The TLS version the server agreed to, for HTTPS. */
  tlsProtocol?: string | null;
}

export class PullClientError extends Error {
  override readonly name = 'PullClientError';
  constructor(
    readonly code:
      | 'PULL_CLIENT_CONNECT'
      | 'PULL_CLIENT_TIMEOUT'
      | 'PULL_CLIENT_BAD_RESPONSE'
      /** The server sent more than a device could hold (see drivers/http/response-limits.ts). */
      | 'PULL_CLIENT_TOO_LARGE',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** How the device's TLS stack connects: Lua RTOS pins TLS 1.1, verifies nothing and sends no SNI. */
export interface PullTls {
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** The CA to verify the server with; absent: no verification (Lua RTOS). */
  ca?: string;
  /** Server name for SNI; absent: no SNI. */
  servername?: string;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Sends `request` (the exact bytes a device sends) to `url`'s host and port and reads the answer
 * until the server closes or Content-Length bytes arrived. No HTTP library: header case and
 * framing must reach the checks exactly as the server wrote them.
 */
export function sendPullRequest(
  url: string,
  request: string,
  options: { tls?: PullTls; timeoutMs?: number; method?: string } = {},
): Promise<PullResponse> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const port = Number(target.port || (secure ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const timeoutMs = options.timeoutMs ?? 5_000;
  const headOnly = request.startsWith('HEAD ');
  return new Promise((resolve, reject) => {
    const settings = options.tls ?? {};
    const socket = secure
      ? tls.connect({
          host,
          port,
          ...(settings.minVersion ? { minVersion: settings.minVersion } : {}),
          ...(settings.maxVersion ? { maxVersion: settings.maxVersion } : {}),
          ...(settings.minVersion === 'TLSv1' || settings.minVersion === 'TLSv1.1'
            ? { ciphers: 'DEFAULT@SECLEVEL=0' }
            : {}),
          ...(settings.ca ? { ca: settings.ca } : { rejectUnauthorized: false }),
          ...(settings.servername ? { servername: settings.servername } : {}),
        })
      : net.connect({ host, port });
    const chunks: Buffer[] = [];
    let settled = false;
    let connected = false;
    const timer = setTimeout(
      () =>
        fail(
          new PullClientError('PULL_CLIENT_TIMEOUT', `no complete answer from ${url} within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const finish = () => {
      if (settled) return;
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf(HEAD_END);
      if (headEnd === -1) {
        fail(
          new PullClientError(
            'PULL_CLIENT_BAD_RESPONSE',
            `${url} closed before a complete response head: ${JSON.stringify(all.subarray(0, 200).toString('latin1'))}`,
          ),
        );
        return;
      }
      settled = true;
      clearTimeout(timer);
      const protocol = socket instanceof tls.TLSSocket ? socket.getProtocol() : undefined;
      socket.destroy();
      const [statusLine = '', ...headerLines] = all.subarray(0, headEnd).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? Number.NaN);
      resolve({
        statusLine,
        status,
        headerLines,
        body: headerLines.some((line) => /^transfer-encoding: *chunked/i.test(line))
          ? dechunk(all.subarray(headEnd + 4))
          : all.subarray(headEnd + 4),
        ...(protocol === undefined ? {} : { tlsProtocol: protocol }),
      });
    };
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      connected = true;
      socket.write(request, 'latin1');
    });
    // The head is parsed once; after it only a byte count and the last bytes are kept in view.
    let received = 0;
    let head: { end: number; length: number | undefined; bodiless: boolean; chunked: boolean } | undefined;
    let tail = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (head === undefined) {
        const all = Buffer.concat(chunks);
        chunks.splice(0, chunks.length, all);
        const headEnd = all.indexOf(HEAD_END);
        if (headEnd === -1) {
          if (received > MAX_RESPONSE_HEAD_BYTES)
            fail(
              new PullClientError(
                'PULL_CLIENT_TOO_LARGE',
                `${url} ${overLimit('a response head', received, MAX_RESPONSE_HEAD_BYTES)}: ${describeBytes(all)}`,
              ),
            );
          return;
        }
        const text = all.subarray(0, headEnd).toString('latin1');
        const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(text)?.[1]);
        const length = /\r\ncontent-length: *(\d+)/i.exec(text)?.[1];
        head = {
          end: headEnd,
          length: length === undefined ? undefined : Number(length),
          bodiless: headOnly || status === 304 || status === 204,
          // A kept-alive chunked answer ends with its last chunk, not a close (the body stays as sent).
          chunked: length === undefined && /\r\ntransfer-encoding: *chunked/i.test(text),
        };
      }
      const body = received - head.end - 4;
      if (!head.bodiless && Math.max(body, head.length ?? 0) > MAX_IMAGE_RESPONSE_BYTES) {
        fail(
          new PullClientError(
            'PULL_CLIENT_TOO_LARGE',
            `${url} ${overLimit('a response body', Math.max(body, head.length ?? 0), MAX_IMAGE_RESPONSE_BYTES)}`,
          ),
        );
        return;
      }
      tail = Buffer.concat([tail, chunk]).subarray(-5);
      if (
        head.bodiless ||
        (head.length !== undefined && body >= head.length) ||
        (head.chunked && tail.toString('latin1') === '0\r\n\r\n')
      )
        finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (error) => {
      if (chunks.length > 0) finish();
      else
        fail(
          new PullClientError(
            'PULL_CLIENT_CONNECT',
            `cannot ${connected ? 'read from' : 'connect to'} ${url}: ${error.message}`,
            { cause: error },
          ),
        );
    });
  });
}

/** A response header's value by exact name (Lua RTOS compares with strcmp). */
export function exactHeaderLine(response: PullResponse, name: string): string | undefined {
  const line = response.headerLines.find((candidate) => candidate.startsWith(`${name}:`));
  return line === undefined ? undefined : line.slice(name.length + 1).replace(/^ /, '');
}

/** A response header's value, name compared case-insensitively (the Arduino HTTPClient does). */
export function headerOf(response: PullResponse, name: string): string | undefined {
  const wanted = `${name.toLowerCase()}:`;
  const line = response.headerLines.find((candidate) => candidate.toLowerCase().startsWith(wanted));
  return line?.slice(wanted.length).trim();
}

/** The data of a chunked body (RFC 9112 §7.1); what follows a malformed size line is kept as it is. */
function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', offset, 'latin1');
    if (lineEnd === -1) break;
    const size = Number.parseInt(raw.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isInteger(size)) return Buffer.concat([...parts, raw.subarray(offset)]);
    if (size === 0) break;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
