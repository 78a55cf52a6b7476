import type http from 'node:http';
import type { ByteRate } from './byte-rate.ts';
import type { Release } from './catalogue.ts';

export const OCTET_STREAM = 'application/octet-stream';

/** How a 200 is written: what the defects change in it. */
export interface ReleaseStyle {
  /** The x-MD5 value; absent: no x-MD5 (Lua RTOS and esp_https_ota check no header hash). */
  md5?: string;
  ranges: boolean;
  /** Suffix ranges (`bytes=-n`) honoured; false answers them with the whole image. */
  suffixRanges?: boolean;
  /** A range whose last byte is past the end is answered 416 instead of clamped. */
  refusesEndPastLast?: boolean;
  /** An ETag, and 304 to an If-None-Match that names it. */
  etag?: string;
  honoursIfNoneMatch?: boolean;
  contentType: string;
  /** false: no Content-Length, the body chunked (HTTP/1.1) or ended by the close. */
  contentLength: boolean;
  lowerCaseNames: boolean;
}

/** Where the body's bytes go out: paced by every limit that applies to the download. */
export interface Delivery {
  rates: readonly ByteRate[];
  /** Told how many body bytes the answer carries (for the request log). */
  bodyBytes(count: number): void;
}

/** Bytes written between two waits on the limits: small enough for an even rate at a few KiB/s. */
const PACE_BYTES = 4096;

/** 200, 206 for one satisfiable `bytes=` range, 416 for an unsatisfiable one, 304 for a matching If-None-Match. */
export function sendRelease(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  release: Release,
  style: ReleaseStyle,
  delivery: Delivery,
): void {
  const size = release.bytes.length;
  const headers: [string, string][] = [['Content-Type', style.contentType]];
  if (style.md5 !== undefined) headers.push(['x-MD5', style.md5]);
  if (style.ranges) headers.push(['Accept-Ranges', 'bytes']);
  if (style.etag !== undefined) headers.push(['ETag', style.etag]);
  const named = (list: [string, string][]) =>
    (style.lowerCaseNames ? list.map(([name, value]) => [name.toLowerCase(), value]) : list).flat();
  if (
    style.etag !== undefined &&
    style.honoursIfNoneMatch &&
    matchesEtag(request.headers['if-none-match'], style.etag)
  ) {
    response.writeHead(304, 'Not Modified', named(headers.filter(([name]) => name === 'ETag')));
    return void response.end();
  }
  const range = style.ranges ? parseRange(request.headers.range, size, style) : undefined;
  if (range === 'unsatisfiable') {
    response.writeHead(
      416,
      'Range Not Satisfiable',
      named([...headers, ['Content-Range', `bytes */${size}`], ['Content-Length', '0']]),
    );
    return void response.end();
  }
  let body = release.bytes;
  if (range) {
    body = release.bytes.subarray(range.start, range.end + 1);
    headers.push(['Content-Range', `bytes ${range.start}-${range.end}/${size}`]);
  }
  if (style.contentLength) headers.push(['Content-Length', String(body.length)]);
  response.writeHead(range ? 206 : 200, range ? 'Partial Content' : 'OK', named(headers));
  if (request.method === 'HEAD') return void response.end();
  delivery.bodyBytes(body.length);
  void writePaced(response, body, delivery.rates);
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/** The body in pieces, each let out when every limit allows; a client that goes away ends it. */
async function writePaced(
  response: http.ServerResponse,
  body: Uint8Array,
  rates: readonly ByteRate[],
): Promise<void> {
  if (rates.length === 0) return void response.end(body);
  for (let offset = 0; offset < body.length; offset += PACE_BYTES) {
    const piece = body.subarray(offset, offset + PACE_BYTES);
    for (const rate of rates) await rate.take(piece.length);
    if (response.destroyed) return;
    if (!response.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          response.off('drain', done);
          response.off('close', done);
          resolve();
        };
        response.once('drain', done);
        response.once('close', done);
      });
      if (response.destroyed) return;
    }
  }
  response.end();
}

/**
 * One `bytes=a-b`, `bytes=a-` or `bytes=-n` range (RFC 9110 §14.1.2: a last position past the end
 * is clamped); anything else is ignored (a full 200), as RFC 9110 allows.
 */
export function parseRange(
  value: string | undefined,
  size: number,
  style: Pick<ReleaseStyle, 'suffixRanges' | 'refusesEndPastLast'> = {},
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = value === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    if (style.suffixRanges === false) return undefined;
    const suffix = Number(match[2]);
    return suffix === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  if (start >= size) return 'unsatisfiable';
  if (match[2] !== '' && Number(match[2]) >= size && style.refusesEndPastLast) return 'unsatisfiable';
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return end < start ? undefined : { start, end };
}

export function plain(response: http.ServerResponse, status: number, text: string): void {
  response.writeHead(status, [
    'Content-Type',
    'text/plain',
    'Content-Length',
    String(Buffer.byteLength(text)),
  ]);
  response.end(text);
}
