import { ascii, type FuzzTarget } from '../../fuzz/fuzz-target.ts';
import { parseRequestHead, RequestHeadError } from './request-head.ts';
import { parseByteRange } from './response-plan.ts';

/** What the harness's update server reads from a device: its request head and its Range header. */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'http/request-head (update server)',
    seeds: [
      ascii(
        'GET /firmware.bin HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUser-Agent: ESP8266-http-Update\r\nx-ESP8266-STA-MAC: 18:FE:34:00:00:01\r\nx-ESP8266-free-space: 1000000\r\n\r\n',
      ),
      ascii('GET /?firmware=f&commit=abc HTTP/1.0\r\n\r\n'),
    ],
    run(input) {
      parseRequestHead(Buffer.from(input));
    },
    refuses: (error) => error instanceof RequestHeadError,
  },
  {
    name: 'http/range-header (update server)',
    seeds: [ascii('bytes=0-1023'), ascii('bytes=-500'), ascii('bytes=9500-'), ascii('bytes=0-0,5-9')],
    run(input) {
      const range = parseByteRange(Buffer.from(input).toString('latin1'), 10_000);
      if (typeof range === 'object' && !(range.start >= 0 && range.start <= range.end && range.end < 10_000))
        throw new RangeError(`range ${range.start}-${range.end} is outside a 10000-byte body`);
    },
  },
];
