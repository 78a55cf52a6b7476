import { describe, expect, it } from 'vitest';
import { type HeadFacts, NOT_HTTP, readHeadFacts } from './response-head.ts';

function read(head: string): HeadFacts | string {
  const bytes = Buffer.from(`${head}\r\n\r\nbody`, 'latin1');
  const facts: HeadFacts = { status: 0, contentLength: undefined, close: false };
  return readHeadFacts(bytes, bytes.indexOf('\r\n\r\n'), facts) ?? facts;
}

describe('readHeadFacts', () => {
  it('reads status, Content-Length and Connection in any letter case, skipping other headers', () => {
    expect(
      read(
        'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1269\r\nConnection: keep-alive',
      ),
    ).toEqual({
      status: 200,
      contentLength: 1269,
      close: false,
    });
    expect(read('HTTP/1.1 409 Conflict\r\ncontent-length:\t7 \r\nCONNECTION: Close')).toEqual({
      status: 409,
      contentLength: 7,
      close: true,
    });
  });

  it('HTTP/1.0 closes unless it says keep-alive; no Content-Length means close-delimited; 204 has no body', () => {
    expect(read('HTTP/1.0 200 OK\r\nContent-Length: 2')).toMatchObject({ close: true, contentLength: 2 });
    expect(read('HTTP/1.0 200 OK\r\nConnection: Keep-Alive')).toMatchObject({
      close: false,
      contentLength: undefined,
    });
    expect(read('HTTP/1.1 204 No Content')).toMatchObject({ status: 204, contentLength: 0, close: false });
  });

  it('refuses what is not an HTTP/1.x status line, a Content-Length that is not a byte count, and Transfer-Encoding', () => {
    expect(read('HTTP/2 200 OK')).toBe(NOT_HTTP);
    expect(read('HTTP/1.1 2x0 OK')).toBe(NOT_HTTP);
    expect(read('HTTP/1.1 099 Low')).toBe(NOT_HTTP);
    expect(read('ICY 200 OK')).toBe(NOT_HTTP);
    for (const value of ['', '-1', '1e3', '12 34', '0x10'])
      expect(read(`HTTP/1.1 200 OK\r\nContent-Length: ${value}`)).toBe(
        'answered a Content-Length that is not a byte count',
      );
    expect(read('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked')).toMatch(/Transfer-Encoding/);
  });

  it('a name of the right length with a CR or other byte where a letter or dash belongs is not that header', () => {
    expect(read('HTTP/1.1 200 OK\r\ncontent\rlength: x\r\nContent-Length: 3')).toMatchObject({
      contentLength: 3,
    });
    expect(read('HTTP/1.1 200 OK\r\nContent_Length: x\r\nContent-Length: 3')).toMatchObject({
      contentLength: 3,
    });
  });
});
