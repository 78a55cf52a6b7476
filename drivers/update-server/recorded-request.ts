/** How a recorded exchange ended. */
export type RequestOutcome =
  /** Still being answered (or waiting for its delay). */
  | 'in-progress'
  /** The whole response, as scripted, was handed to the socket. */
  | 'complete'
  /** `truncateAt`: part of the body, then a clean close. */
  | 'truncated'
  /** `dropAfter`: part of the body, then a reset. */
  | 'dropped'
  /** `stallAfter`: part of the body, then silence until the client left or the server stopped. */
  | 'stalled'
  /** The client closed the connection before the response was out. */
  | 'client-closed'
  /** `stop()` cut the exchange during a delay or a write. */
  | 'stopped'
  /** The script could not produce an answer (decision function threw, unknown image): a 500 went out. */
  | 'script-error'
  /** The request itself could not be parsed or used: a 4xx/5xx went out and the connection closed. */
  | 'bad-request';

/** Times are epoch milliseconds with sub-millisecond precision (`performance.timeOrigin + now()`). */
export interface RecordedRequest {
  /** Position among all requests this server saw, from 0. */
  index: number;
  connectionId: number;
  /** Position of this request on its connection, from 0 (keep-alive reuse shows as > 0). */
  indexOnConnection: number;
  method: string;
  /** The request-target exactly as sent, e.g. `/?firmware=GENERIC-OTA&commit=…`. */
  target: string;
  path: string;
  /** The raw query string without `?` (values are not URL-encoded by every client). */
  rawQuery: string;
  query: Record<string, string>;
  httpVersion: string;
  /** The request line as received, without its line ending. */
  requestLine: string;
  /** Header lines exactly as received, without line endings (trailing spaces kept). */
  rawHeaderLines: string[];
  /** Name in its received case; value with surrounding whitespace removed. */
  headers: [name: string, value: string][];
  bodyLength: number;
  remoteAddress: string;
  remotePort: number;
  /** For HTTPS: negotiated protocol, cipher, and the SNI name (`false` when the client sent none). */
  tls?: { protocol: string | null; cipher: string; servername: string | false };
  startedAt: number;
  headersReceivedAt: number;
  responseStartedAt?: number;
  endedAt?: number;
  status?: number;
  /** Bytes handed to the socket for this response: head plus body. */
  bytesSent: number;
  bodyBytesSent: number;
  outcome: RequestOutcome;
  /** Why the outcome is `script-error` or `bad-request`. */
  error?: string;
}

/** The value of the first header named `name` (case-insensitive), or undefined. */
export function headerValue(request: Pick<RecordedRequest, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return request.headers.find(([headerName]) => headerName.toLowerCase() === wanted)?.[1];
}

export function copyRecordedRequest(request: RecordedRequest): RecordedRequest {
  return {
    ...request,
    query: { ...request.query },
    rawHeaderLines: [...request.rawHeaderLines],
    headers: request.headers.map(([name, value]) => [name, value]),
    ...(request.tls ? { tls: { ...request.tls } } : {}),
  };
}
