import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { HttpClientError } from './http-update-errors.ts';
import { SocketReader } from './socket-reader.ts';

/** How the device trusts an HTTPS server: a CA (PEM), a SHA-1 certificate fingerprint, or nothing checked. */
export interface TlsTrust {
  ca?: string;
  /** Hex, with or without `:`/space separators (BearSSL setFingerprint). */
  fingerprint?: string;
  insecure?: boolean;
}

export interface Http10Response {
  status: number;
  /** Header names lower-cased; the last value of a repeated header wins. */
  headers: Map<string, string>;
  reader: SocketReader;
  socket: Socket;
}

/** A transport failure with its HTTPC_ERROR_* code. */
export class HttpTransportError extends Error {
  readonly code = 'HTTP_TRANSPORT';
  readonly httpcError: number;
  constructor(httpcError: number, message: string) {
    super(message);
    this.httpcError = httpcError;
  }
}

/**
 * One `GET … HTTP/1.0` as HTTPClient with useHTTP10(true) sends it: the request line and the
 * header block exactly as given (order and case kept), then the status line and headers read
 * line by line, each within `timeoutMs` of the previous one. The body stays on the socket for the caller to stream.
 */
export async function http10Get(
  url: URL,
  headerBlock: string,
  options: { timeoutMs: number; tls?: TlsTrust; signal: AbortSignal },
): Promise<Http10Response> {
  const socket = await open(url, options);
  const reader = new SocketReader(socket);
  const path = `${url.pathname || '/'}${url.search}`;
  try {
    socket.write(`GET ${path} HTTP/1.0\r\n${headerBlock}\r\n`);
  } catch {
    socket.destroy();
    throw new HttpTransportError(HttpClientError.SEND_HEADER_FAILED, 'could not send the request header');
  }
  let status = 0;
  const headers = new Map<string, string>();
  for (;;) {
    // handleHeaderResponse() times out on silence since the last line, not on the whole header.
    const line = await reader.readLine(options.timeoutMs, options.signal);
    if (line === undefined) {
      socket.destroy();
      if (reader.closed)
        throw new HttpTransportError(
          HttpClientError.CONNECTION_LOST,
          'the server closed before the header ended',
        );
      throw new HttpTransportError(HttpClientError.READ_TIMEOUT, 'no complete response header in time');
    }
    if (line === '') break;
    if (status === 0 && line.startsWith('HTTP/1.')) {
      status = Number.parseInt(line.slice(9, 12), 10) || 0;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (status === 0) {
    socket.destroy();
    throw new HttpTransportError(HttpClientError.NO_HTTP_SERVER, 'the answer had no HTTP status line');
  }
  const encoding = headers.get('transfer-encoding');
  if (encoding !== undefined && encoding.toLowerCase() !== 'chunked') {
    socket.destroy();
    throw new HttpTransportError(HttpClientError.ENCODING, `Transfer-Encoding ${encoding} is not supported`);
  }
  return { status, headers, reader, socket };
}

async function open(
  url: URL,
  options: { timeoutMs: number; tls?: TlsTrust; signal: AbortSignal },
): Promise<Socket> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'https:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const trust = options.tls ?? {};
  const socket: Socket = secure
    ? connectTls({
        host,
        port,
        servername: /^[\d.:]+$/.test(host) ? undefined : host,
        ca: trust.ca,
        rejectUnauthorized:
          trust.ca !== undefined && trust.fingerprint === undefined && trust.insecure !== true,
      })
    : connectTcp({ host, port });
  // destroy() with an error, so a pending wait for 'connect' rejects instead of hanging.
  const abort = () => socket.destroy(new Error('the boot ended'));
  options.signal.addEventListener('abort', abort, { once: true });
  socket.once('close', () => options.signal.removeEventListener('abort', abort));
  const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), options.timeoutMs);
  try {
    await once(socket, secure ? 'secureConnect' : 'connect');
  } catch (error) {
    socket.destroy();
    throw new HttpTransportError(
      HttpClientError.CONNECTION_FAILED,
      `connection failed: ${(error as Error).message}`,
    );
  } finally {
    clearTimeout(timer);
  }
  if (secure && !trusted(socket as TLSSocket, trust)) {
    socket.destroy();
    throw new HttpTransportError(HttpClientError.CONNECTION_FAILED, 'the server certificate is not trusted');
  }
  socket.setNoDelay(true);
  return socket;
}

/** BearSSL's checks: a pinned fingerprint, a CA chain (checked by the handshake), or setInsecure(). */
function trusted(socket: TLSSocket, trust: TlsTrust): boolean {
  if (trust.insecure === true) return true;
  if (trust.fingerprint !== undefined) {
    const raw = socket.getPeerCertificate().raw;
    if (raw === undefined) return false;
    const actual = createHash('sha1').update(raw).digest('hex');
    return actual === trust.fingerprint.replace(/[^0-9a-f]/gi, '').toLowerCase();
  }
  return trust.ca !== undefined && socket.authorized;
}
