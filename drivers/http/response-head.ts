/**
 * What a device's response head says about framing, read from the received bytes without making
 * a string of them: the push path reads one head per chunk, and lower-casing names and slicing
 * values cost more per request than the rest of the client (a string for the head, one per
 * header name and value).
 */
export interface HeadFacts {
  status: number;
  /** Undefined: the head has none, so the body runs until the device closes. */
  contentLength: number | undefined;
  /** The device closes after this answer (`Connection: close`, or HTTP/1.0 without keep-alive). */
  close: boolean;
}

export const NOT_HTTP = 'not HTTP/1.x';

const CR = 13;
const LF = 10;
const COLON = 58;
const SPACE = 32;
const TAB = 9;
const ZERO = 48;
const HTTP_1 = [72, 84, 84, 80, 47, 49, 46]; // 'HTTP/1.'

const CONTENT_LENGTH = bytesOf('content-length');
const CONNECTION = bytesOf('connection');
const TRANSFER_ENCODING = bytesOf('transfer-encoding');
const CLOSE = bytesOf('close');
const KEEP_ALIVE = bytesOf('keep-alive');

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

/** `bytes[from, from + expected.length)` equals `expected` (lower-case ASCII) ignoring letter case. */
function equalsFolded(bytes: Uint8Array, from: number, expected: Uint8Array): boolean {
  for (let index = 0; index < expected.length; index++) {
    const want = expected[index]!;
    const got = bytes[from + index]!;
    // Only letters fold: `| 0x20` would also turn a CR (0x0d) into '-' (0x2d).
    if (got !== want && !(want >= 97 && want <= 122 && (got | 0x20) === want)) return false;
  }
  return true;
}

function containsFolded(bytes: Uint8Array, from: number, to: number, token: Uint8Array): boolean {
  for (let at = from; at + token.length <= to; at++) if (equalsFolded(bytes, at, token)) return true;
  return false;
}

/** A Content-Length value: digits between optional spaces or tabs; undefined otherwise. */
function byteCount(bytes: Uint8Array, from: number, to: number): number | undefined {
  let start = from;
  let end = to;
  while (start < end && (bytes[start] === SPACE || bytes[start] === TAB)) start++;
  while (end > start && (bytes[end - 1] === SPACE || bytes[end - 1] === TAB)) end--;
  if (start === end || end - start > 15) return undefined;
  let value = 0;
  for (let at = start; at < end; at++) {
    const digit = bytes[at]! - ZERO;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Status, Content-Length and Connection of the head in `bytes[0, headEnd)` (headEnd: the index of
 * the blank line's CRLFCRLF), written into `facts`; returns what is wrong with the head, or
 * undefined. Only three header names matter, so every other line costs a length comparison.
 */
export function readHeadFacts(bytes: Uint8Array, headEnd: number, facts: HeadFacts): string | undefined {
  if (headEnd < 12) return NOT_HTTP;
  for (let index = 0; index < HTTP_1.length; index++) if (bytes[index] !== HTTP_1[index]) return NOT_HTTP;
  if (bytes[8] !== SPACE) return NOT_HTTP;
  let status = 0;
  for (let at = 9; at < 12; at++) {
    const digit = bytes[at]! - ZERO;
    if (digit < 0 || digit > 9) return NOT_HTTP;
    status = status * 10 + digit;
  }
  if (status < 100) return NOT_HTTP;
  let keepAlive = bytes[7] !== ZERO; // HTTP/1.0 closes unless it says keep-alive
  let close = false;
  let contentLength: number | undefined;
  let lineStart = 12;
  while (lineStart < headEnd && !(bytes[lineStart] === CR && bytes[lineStart + 1] === LF)) lineStart++;
  lineStart += 2;
  while (lineStart < headEnd) {
    let lineEnd = lineStart;
    while (lineEnd < headEnd && !(bytes[lineEnd] === CR && bytes[lineEnd + 1] === LF)) lineEnd++;
    let colon = lineStart;
    while (colon < lineEnd && bytes[colon] !== COLON) colon++;
    const nameLength = colon - lineStart;
    if (colon < lineEnd) {
      if (nameLength === CONTENT_LENGTH.length && equalsFolded(bytes, lineStart, CONTENT_LENGTH)) {
        contentLength = byteCount(bytes, colon + 1, lineEnd);
        if (contentLength === undefined) return 'answered a Content-Length that is not a byte count';
      } else if (nameLength === CONNECTION.length && equalsFolded(bytes, lineStart, CONNECTION)) {
        if (containsFolded(bytes, colon + 1, lineEnd, CLOSE)) close = true;
        else if (containsFolded(bytes, colon + 1, lineEnd, KEEP_ALIVE)) keepAlive = true;
      } else if (nameLength === TRANSFER_ENCODING.length && equalsFolded(bytes, lineStart, TRANSFER_ENCODING))
        return 'answered with Transfer-Encoding, which a device answering by Content-Length never sends';
    }
    lineStart = lineEnd + 2;
  }
  facts.status = status;
  facts.close = close || !keepAlive;
  facts.contentLength = status < 200 || status === 204 || status === 304 ? 0 : contentLength;
  return undefined;
}
