import type { FuzzTarget } from '../../fuzz/fuzz-target.ts';
import { SlipDecoder, slipEncode } from './slip.ts';

/** The ROM loader's SLIP framing: whatever the serial line carries, frames come out whole. */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'rom-loader/slip (emulator)',
    seeds: [
      slipEncode(Uint8Array.from([0x00, 0x08, 0x24, 0x00, 0, 0, 0, 0, 0x07, 0x07, 0x12, 0x20])),
      slipEncode(Uint8Array.from([0xc0, 0xdb, 0xdc, 0xdd])),
      Uint8Array.from([0xc0, 0xc0, 0xdb, 0x01, 0xc0]),
    ],
    run(input) {
      const frames: Uint8Array[] = [];
      const decoder = new SlipDecoder((frame) => frames.push(frame));
      decoder.push(input);
      // Every frame decoded re-encodes to bytes that decode to the same frame.
      for (const frame of frames) {
        const again: Uint8Array[] = [];
        new SlipDecoder((copy) => again.push(copy)).push(slipEncode(frame));
        if (again.length !== 1 || Buffer.compare(Buffer.from(again[0]!), Buffer.from(frame)) !== 0)
          throw new Error('a decoded SLIP frame does not survive encode → decode');
      }
    },
  },
];
