import type { KeepAliveRequest } from './keep-alive-connection.ts';

/** How a client's chunk requests look on the wire, all but the offset and the body's length. */
export interface ChunkRoute {
  /** `/ota/chunk` (viperhttp) or `/ota/write` (doc dialect), with the base path. */
  path: string;
  /** Whether the route carries `?offset=N` (viperhttp with an offset given). */
  withOffset: boolean;
  /** `token=…` when the credential travels in the query, else ''. */
  tokenQueryPair: string;
  /** `Host: …\r\n` and the header lines (content type, credential) as sent today. */
  hostLine: string;
  headerLines: string;
  /** The same headers, for the transcript. */
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
}

const ZERO = 48;

function decimalLength(value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** Writes `value` in decimal ASCII at `at`; returns the index after it. */
function writeDecimal(target: Buffer, at: number, value: number): number {
  const end = at + decimalLength(value);
  let index = end;
  let rest = value;
  do {
    target[--index] = ZERO + (rest % 10);
    rest = Math.floor(rest / 10);
  } while (rest > 0);
  return end;
}

/**
 * The chunk request a push client sends over and over, kept as one object whose head is encoded
 * straight into the packet: the fixed bytes are encoded once, the offset and Content-Length are
 * written as digits in place, and the body is copied in after them, so a chunk costs the packet
 * the socket write needs and nothing else. `step` and `path` are only built when something reads
 * them (an error, a transcript). One chunk is in flight at a time (KeepAliveConnection serves one
 * request at a time), so `prepare` may reuse this object for the next chunk once the last settled.
 *
 * On the wire, byte for byte what the string head used to be:
 * `POST <path>[?offset=N][&|?token=…] HTTP/1.1\r\nHost: …\r\n<header lines>content-length: L\r\n\r\n<body>`.
 */
export class ChunkRequest implements KeepAliveRequest {
  readonly method = 'POST';
  readonly read = 'on-error';
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  body: Uint8Array | undefined;
  packet: Buffer | undefined;
  /** The offset of the chunk being sent; undefined for a chunk without one. */
  offset: number | undefined;
  /** A second attempt after a lost connection (named in its step). */
  resent = false;
  /** `POST <path>?offset=` (with an offset) or `POST <path>[?token=…] HTTP/1.1\r\n…content-length: `. */
  private readonly beforeOffset: Buffer;
  /** `[&token=…] HTTP/1.1\r\nHost…content-length: ` after the offset's digits. */
  private readonly afterOffset: Buffer;
  private readonly headWithoutOffset: Buffer;
  private static readonly END = Buffer.from('\r\n\r\n', 'latin1');

  constructor(private readonly route: ChunkRoute) {
    this.headers = route.headers;
    this.timeoutMs = route.timeoutMs;
    const rest = ` HTTP/1.1\r\n${route.hostLine}${route.headerLines}content-length: `;
    const token = route.tokenQueryPair;
    this.beforeOffset = Buffer.from(`POST ${route.path}?offset=`, 'latin1');
    this.afterOffset = Buffer.from(`${token === '' ? '' : `&${token}`}${rest}`, 'latin1');
    this.headWithoutOffset = Buffer.from(
      `POST ${route.path}${token === '' ? '' : `?${token}`}${rest}`,
      'latin1',
    );
  }

  get step(): string {
    const step = this.offset === undefined ? 'chunk' : `chunk @ offset ${this.offset}`;
    return this.resent ? `${step} (re-sent)` : step;
  }

  get path(): string {
    const token = this.route.tokenQueryPair;
    if (this.offset === undefined || !this.route.withOffset)
      return token === '' ? this.route.path : `${this.route.path}?${token}`;
    return `${this.route.path}?offset=${this.offset}${token === '' ? '' : `&${token}`}`;
  }

  /** The head as text (the transcript's and a test's view; the wire gets `packet`). */
  get head(): string {
    const packet = this.packet;
    const bodyLength = this.body?.length ?? 0;
    return packet === undefined ? '' : packet.toString('latin1', 0, packet.length - bodyLength);
  }

  /** Makes this object the request for `data` at `offset`, its packet encoded. */
  prepare(data: Uint8Array, offset: number | undefined, resent: boolean): this {
    this.body = data;
    this.offset = offset;
    this.resent = resent;
    const withOffset = offset !== undefined && this.route.withOffset;
    const start = withOffset ? this.beforeOffset : this.headWithoutOffset;
    const headLength =
      start.length +
      (withOffset ? decimalLength(offset) + this.afterOffset.length : 0) +
      decimalLength(data.length) +
      ChunkRequest.END.length;
    const packet = Buffer.allocUnsafe(headLength + data.length);
    packet.set(start, 0);
    let at = start.length;
    if (withOffset) {
      at = writeDecimal(packet, at, offset);
      packet.set(this.afterOffset, at);
      at += this.afterOffset.length;
    }
    at = writeDecimal(packet, at, data.length);
    packet.set(ChunkRequest.END, at);
    packet.set(data, at + ChunkRequest.END.length);
    this.packet = packet;
    return this;
  }
}
