import fc from 'fast-check';
import { ascii, type FuzzTarget } from '../../../fuzz/fuzz-target.ts';
import { parseRequest, VIPERHTTP_LIMITS } from './http-server.ts';

const request = (head: string, body = '') => ascii(`${head}\r\n\r\n${body}`);

/** ViperHTTP's request parser (head, Content-Length body, and the accepts-chunked decoder). */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'http/viperhttp-request (emulator)',
    seeds: [
      request('POST /ota/chunk?offset=0 HTTP/1.1\r\nHost: d\r\nX-OTA-Token: t\r\nContent-Length: 4', 'abcd'),
      request('GET /ota/status?a=1&b=%20x+y HTTP/1.0\r\nConnection: keep-alive'),
      request('POST /ota/upload HTTP/1.1\r\nTransfer-Encoding: chunked', '4;ext\r\nabcd\r\n0\r\n\r\n'),
    ],
    structured: fc
      .record({
        method: fc.constantFrom('GET', 'POST', 'PUT', 'get', ''),
        path: fc.stringMatching(/^\/[a-z/?=&%+0-9]{0,40}$/),
        headers: fc.array(
          fc.tuple(fc.constantFrom('Content-Length', 'Transfer-Encoding', 'Connection', 'X'), fc.string()),
          {
            maxLength: 6,
          },
        ),
        body: fc.string({ maxLength: 64 }),
      })
      .map(({ method, path, headers, body }) =>
        request(
          `${method} ${path} HTTP/1.1${headers.map(([name, value]) => `\r\n${name}: ${value}`).join('')}`,
          body,
        ),
      ),
    run(input) {
      const buffer = Buffer.from(input);
      parseRequest(buffer, VIPERHTTP_LIMITS);
      parseRequest(buffer, VIPERHTTP_LIMITS, { keepsConnectionAfter413: false, decodesChunked: true });
    },
  },
];
