import fc from 'fast-check';
import { ascii, type FuzzTarget } from '../fuzz/fuzz-target.ts';
import { RigError } from './errors.ts';
import { parseRig } from './load-rig.ts';

const board = {
  name: 'bench-esp32',
  kind: 'board',
  profile: 'viperhttp',
  platform: 'esp32',
  url: 'http://192.168.1.70:8080',
  token: { env: 'BENCH_TOKEN' },
  capabilities: ['console', 'power-cycle'],
  console: { port: '/dev/ttyUSB0', baudRate: 115200 },
};

/** Rig files as a user writes them, and every way they can be wrong: only RigError may come out. */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'rigs/rig-file',
    seeds: [
      ascii(JSON.stringify({ name: 'lab', targets: [board] }, null, 2)),
      ascii(
        JSON.stringify({ targets: [{ name: 'e', kind: 'emulator', profile: 'web-update', '//': 'note' }] }),
      ),
    ],
    structured: fc.jsonValue({ maxDepth: 6 }).map((value) => ascii(JSON.stringify({ targets: [value] }))),
    run(input) {
      parseRig(Buffer.from(input).toString('utf8'), 'rigs/fuzz.json');
    },
    refuses: (error) => error instanceof RigError,
  },
];
