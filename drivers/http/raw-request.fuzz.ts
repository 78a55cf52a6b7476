import { ascii, type FuzzTarget } from '../../fuzz/fuzz-target.ts';
import { parseHead } from './raw-request.ts';

/** The harness's reading of a response head (transcripts, raw exchanges). */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'http/response-head (harness)',
    seeds: [
      ascii('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
      ascii('HTTP/1.0 304 Not Modified\r\n\r\n'),
      ascii('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
    ],
    run(input) {
      parseHead(Buffer.from(input));
    },
  },
];
