import { ascii, type FuzzTarget } from '../../fuzz/fuzz-target.ts';
import { AckReader } from './ack-reader.ts';

/** The uploader's reading of the device's byte-count acks and result text, fed in random splits. */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'espota/acks (harness)',
    seeds: [
      ascii('146014601460OK'),
      ascii('1024102410241024OK'),
      ascii('1460ERROR[7]: MD5 Check Failed\n'),
      ascii('1460\r\n'),
    ],
    run(input) {
      const reader = new AckReader();
      let sent = 0;
      for (let at = 0; at < input.length; at += 7) {
        sent += 1460;
        reader.push(input.subarray(at, at + 7), sent);
      }
      // A device may claim more than was sent (the reader credits it; the uploader's checks judge it):
      // only an exception from inside the reader is a crash here.
      void reader.acked;
    },
  },
];
