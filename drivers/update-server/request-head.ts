/** A parsed request head; everything is kept as received so tests can assert on exact bytes. */
export interface RequestHead {
  method: string;
  target: string;
  httpVersion: string;
  requestLine: string;
  rawHeaderLines: string[];
  headers: [name: string, value: string][];
}

/** Heads larger than this are refused with 431 rather than buffered without bound. */
export const MAX_REQUEST_HEAD_BYTES = 64 * 1024;

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');

/**
 * Index just past the blank line that ends the head, or -1. Bare-LF heads are accepted too:
 * firmware HTTP clients are small hand-written code, and a recorder should see what they sent.
 */
export function findHeadEnd(buffer: Buffer): number {
  const crlf = buffer.indexOf(CRLFCRLF);
  const lf = buffer.indexOf(LFLF);
  if (crlf === -1) return lf === -1 ? -1 : lf + 2;
  if (lf === -1 || crlf < lf) return crlf + 4;
  return lf + 2;
}

export class RequestHeadError extends Error {
  constructor(
    readonly status: 400 | 501 | 505,
    message: string,
  ) {
    super(message);
  }
}

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d\.\d)$/;

export function parseRequestHead(head: Buffer): RequestHead {
  const lines = head.toString('latin1').split('\n');
  const withoutCr = lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  // The head ends with an empty line (two, after the split); drop them.
  while (withoutCr.length > 0 && withoutCr[withoutCr.length - 1] === '') withoutCr.pop();
  const requestLine = withoutCr[0] ?? '';
  const match = REQUEST_LINE.exec(requestLine);
  if (!match) throw new RequestHeadError(400, `malformed request line ${JSON.stringify(requestLine)}`);
  const [, method, target, httpVersion] = match as unknown as [string, string, string, string];
  if (httpVersion !== '1.0' && httpVersion !== '1.1') {
    throw new RequestHeadError(505, `unsupported HTTP version ${httpVersion}`);
  }
  const rawHeaderLines = withoutCr.slice(1);
  const headers: [string, string][] = [];
  for (const line of rawHeaderLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new RequestHeadError(400, `malformed header line ${JSON.stringify(line)}`);
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { method, target, httpVersion, requestLine, rawHeaderLines, headers };
}
