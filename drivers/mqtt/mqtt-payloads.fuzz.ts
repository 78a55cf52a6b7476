import fc from 'fast-check';
import { ascii, type FuzzTarget } from '../../fuzz/fuzz-target.ts';
import { parseButtonsState } from './buttons-trigger.ts';
import { parseHomieStatus } from './homie-ota.ts';
import { MqttPacketSizeGuard } from './packet-size-guard.ts';

/** What the harness reads from devices over MQTT, and the framing guard in front of mqtt.js. */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'mqtt/buttons-state (harness)',
    seeds: [
      ascii('{"status":"connected","firmware":"20240101120000","sha256":"ab"}'),
      ascii('{"type":"ota_trigger","url":"http://x/f.bin"}'),
      ascii('U'),
    ],
    structured: fc.jsonValue({ maxDepth: 4 }).map((value) => ascii(JSON.stringify(value))),
    run(input) {
      parseButtonsState(Buffer.from(input));
    },
  },
  {
    name: 'mqtt/homie-ota-status (harness)',
    seeds: [
      ascii('206 1024/245760'),
      ascii('200'),
      ascii('304'),
      ascii('400 BAD_CHECKSUM'),
      ascii('500 FLASH_ERROR'),
    ],
    run(input) {
      parseHomieStatus(Buffer.from(input).toString('utf8'));
    },
  },
  {
    name: 'mqtt/packet-framing (harness)',
    seeds: [Uint8Array.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x62, 0x63, 0x20, 0x02, 0x00, 0x00])],
    run(input) {
      let stopped = 0;
      const guard = new MqttPacketSizeGuard(256, () => stopped++);
      for (let at = 0; at < input.length; at += 3) if (!guard.push(input.subarray(at, at + 3))) break;
      if (stopped > 1) throw new Error('the guard reported more than one packet over its limit');
    },
  },
];
