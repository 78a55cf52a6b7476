import { connect, type Socket } from 'node:net';
import { HttpStepError } from './errors.ts';
import { redactHeaders, type TranscriptHook } from './transcript.ts';

/** A request written byte for byte, for traffic a conforming client would never send. */
export interface RawBytesRequest {
  bytes: Uint8Array | string;
}

/** A request assembled from parts, with the knobs that make it malformed on purpose. */
export interface RawHttpRequest {
  method: string;
  path: string;
  /** Sent in this order and case; add the credential yourself or let `auth` do it. */
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: Uint8Array | string;
  /** 'auto' (default): Content-Length of the body when there is one; 'omit'; or a number to lie. */
  contentLength?: 'auto' | 'omit' | number;
  /** Send the body with `Transfer-Encoding: chunked` in pieces of this many bytes. */
  chunked?: number;
}

export interface RawResponse {
  /** Undefined when the target closed without a status line. */
  status: number | undefined;
  reason: string;
  /** In arrival order and case. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** Every byte received. */
  raw: Buffer;
  /** The target closed the connection (after or instead of answering). */
  closedByPeer: boolean;
}

export interface RawExchangeOptions {
  host: string;
  port: number;
  targetName: string;
  step: string;
  timeoutMs: number;
  scrub: (text: string) => string;
  transcript?: TranscriptHook;
  credentialHeaders?: ReadonlySet<string>;
}

const CRLF = '\r\n';

export function encodeRawRequest(request: RawHttpRequest, host: string): Buffer {
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  const lines = [`${request.method} ${request.path} HTTP/1.1`];
  const headers = request.headers ?? [];
  if (!headers.some(([name]) => name.toLowerCase() === 'host')) lines.push(`Host: ${host}`);
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  const lengthMode = request.contentLength ?? 'auto';
  if (request.chunked !== undefined) {
    lines.push('Transfer-Encoding: chunked');
  } else if (typeof lengthMode === 'number') {
    lines.push(`Content-Length: ${lengthMode}`);
  } else if (lengthMode === 'auto' && body !== undefined) {
    lines.push(`Content-Length: ${body.length}`);
  }
  const head = Buffer.from(lines.join(CRLF) + CRLF + CRLF, 'latin1');
  if (body === undefined)
    return request.chunked === undefined ? head : Buffer.concat([head, Buffer.from(`0${CRLF}${CRLF}`)]);
  if (request.chunked === undefined) return Buffer.concat([head, body]);
  const parts: Buffer[] = [head];
  const size = Math.max(1, request.chunked);
  for (let offset = 0; offset < body.length; offset += size) {
    const piece = body.subarray(offset, offset + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}${CRLF}`), piece, Buffer.from(CRLF));
  }
  parts.push(Buffer.from(`0${CRLF}${CRLF}`));
  return Buffer.concat(parts);
}

interface ParsedHead {
  status: number | undefined;
  reason: string;
  headers: Array<[string, string]>;
  bodyStart: number;
  contentLength: number | undefined;
}

export function parseHead(raw: Buffer): ParsedHead | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...headerLines] = raw.subarray(0, end).toString('latin1').split(CRLF);
  const match = /^HTTP\/\d\.\d (\d{3}) ?(.*)$/.exec(statusLine);
  const headers: Array<[string, string]> = [];
  let contentLength: number | undefined;
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    headers.push([name, value]);
    if (name.toLowerCase() === 'content-length') contentLength = Number(value);
  }
  return {
    status: match ? Number(match[1]) : undefined,
    reason: match?.[2] ?? '',
    headers,
    bodyStart: end + 4,
    contentLength,
  };
}

/**
 * Writes the bytes on a fresh TCP connection and reads until the response is complete (by its
 * Content-Length), the target closes, or the step times out. No HTTP library sits in between, so
 * an over-limit request, a chunked body or a broken header reaches the device exactly as written.
 */
export function rawExchange(bytes: Uint8Array, options: RawExchangeOptions): Promise<RawResponse> {
  const startedAt = Date.now();
  const head = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 8192))).toString('latin1');
  const headEnd = head.indexOf('\r\n\r\n');
  const [requestLine = '', ...requestHeaderLines] = (headEnd < 0 ? head : head.slice(0, headEnd)).split(CRLF);
  const [method = '?', path = '?'] = requestLine.split(' ');
  const describe = `target ${options.targetName} (${options.host}:${options.port}): step '${options.step}' (${method} ${path})`;

  return new Promise<RawResponse>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    let parsed: ParsedHead | undefined;
    const socket: Socket = connect({ host: options.host, port: options.port });
    socket.setNoDelay(true);

    const record = (
      status: number | undefined,
      responseHeaders: Array<[string, string]>,
      error?: string,
    ): void => {
      if (!options.transcript) return;
      const requestHeaders: Record<string, string> = {};
      for (const line of requestHeaderLines) {
        const colon = line.indexOf(':');
        if (colon > 0) requestHeaders[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
      }
      options.transcript({
        at: startedAt,
        step: options.step,
        method,
        path: options.scrub(path),
        status,
        requestHeaders: redactHeaders(requestHeaders, options.scrub, options.credentialHeaders),
        responseHeaders: redactHeaders(Object.fromEntries(responseHeaders), options.scrub),
        bytes: {
          sent: headEnd < 0 ? 0 : bytes.length - (headEnd + 4),
          received: received - (parsed?.bodyStart ?? 0),
        },
        durationMs: Date.now() - startedAt,
        ...(error === undefined ? {} : { error }),
        via: 'raw-socket',
      });
    };

    const finish = (closedByPeer: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      const head = parseHead(raw);
      const bodyEnd =
        head?.contentLength === undefined
          ? raw.length
          : Math.min(raw.length, head.bodyStart + head.contentLength);
      const response: RawResponse = {
        status: head?.status,
        reason: head?.reason ?? '',
        headers: head?.headers ?? [],
        body: head ? raw.subarray(head.bodyStart, bodyEnd) : Buffer.alloc(0),
        raw,
        closedByPeer,
      };
      socket.destroy();
      record(response.status, response.headers);
      resolve(response);
    };

    const fail = (error: HttpStepError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      record(undefined, [], error.message);
      reject(error);
    };

    const timer = setTimeout(() => {
      fail(
        new HttpStepError(
          'HTTP_STEP_TIMEOUT',
          options.scrub(`${describe} got no complete response within ${options.timeoutMs} ms`),
          { targetName: options.targetName, step: options.step, timeoutMs: options.timeoutMs },
        ),
      );
    }, options.timeoutMs);

    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (data: Buffer) => {
      chunks.push(data);
      received += data.length;
      parsed ??= parseHead(Buffer.concat(chunks));
      if (parsed?.contentLength !== undefined && received >= parsed.bodyStart + parsed.contentLength)
        finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Once the request went out, a reset is the device's answer (it refused by closing).
      if (received > 0 || socket.bytesWritten > 0) return finish(true);
      fail(
        new HttpStepError(
          'HTTP_CONNECTION',
          options.scrub(`${describe} failed: ${error.code ?? error.message}`),
          { targetName: options.targetName, step: options.step },
        ),
      );
    });
  });
}
