import { type FuzzTarget, isTypedRefusal } from '../../fuzz/fuzz-target.ts';
import {
  decodeOtaEntry,
  encodeOtaEntry,
  isEntryValid,
  otaSlotForSeq,
  selectActiveEntry,
} from '../otadata/ota-select-entry.ts';
import { parsePartitionCsv } from './partition-csv.ts';
import { generatePartitionTable, parsePartitionTable } from './partition-table-binary.ts';

const CSV = `# Name, Type, SubType, Offset, Size, Flags
nvs, data, nvs, 0x9000, 0x4000,
otadata, data, ota, 0xd000, 0x2000,
phy_init, data, phy, 0xf000, 0x1000,
ota_0, app, ota_0, 0x10000, 0x180000,
ota_1, app, ota_1, , 0x180000,
`;

/** The bootloader's partition table and otadata readers. */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'flash/partition-table',
    seeds: [
      generatePartitionTable(parsePartitionCsv(CSV)),
      generatePartitionTable(parsePartitionCsv(CSV), { md5: false }),
    ],
    run(input) {
      parsePartitionTable(input);
      parsePartitionTable(input, { verifyMd5: false, flashSize: 4 * 1024 * 1024 });
    },
    refuses: isTypedRefusal,
  },
  {
    name: 'flash/partition-csv',
    seeds: [Buffer.from(CSV, 'latin1')],
    run(input) {
      parsePartitionCsv(Buffer.from(input).toString('latin1'));
    },
    refuses: isTypedRefusal,
  },
  {
    name: 'flash/otadata',
    seeds: [
      Buffer.concat([encodeOtaEntry({ seq: 1, state: 2 }), encodeOtaEntry({ seq: 2, state: 0 })]),
      Buffer.concat([
        encodeOtaEntry({ seq: 0xffffffff, state: 0xffffffff }),
        encodeOtaEntry({ seq: 7, state: 1 }),
      ]),
    ],
    run(input) {
      if (input.length < 64) return;
      const entries = [
        decodeOtaEntry(input.subarray(0, 32)),
        decodeOtaEntry(input.subarray(32, 64)),
      ] as const;
      const active = selectActiveEntry(entries);
      if (active !== -1 && isEntryValid(entries[active])) otaSlotForSeq(entries[active].seq, 2);
    },
    refuses: isTypedRefusal,
  },
];
