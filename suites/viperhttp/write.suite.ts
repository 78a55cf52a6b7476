import type { ViperHttpClient } from '../../drivers/http/index.ts';
import { requirement } from '../framework/index.ts';
import {
  describeAnswer,
  detailOf,
  jsonOf,
  REFERENCE,
  settle,
  usingClient,
  writtenBytes,
} from './viper-device.ts';

const WRITE = `${REFERENCE} §1.5 ota_write (viperhttp_ota.py 321–370)`;

function chunkRequest(client: ViperHttpClient, data: Uint8Array, offset: number | undefined, step: string) {
  return client.request('POST', 'chunk', {
    body: data,
    ...(offset === undefined ? {} : { query: { offset } }),
    headers: { 'content-type': 'application/octet-stream' },
    step,
  });
}

requirement(
  'viperhttp/write/1',
  'MUST',
  'refuses a chunk whose offset is not written_bytes with 409 "offset mismatch; only sequential writes are supported" and writes nothing',
  { source: `${WRITE} step 3` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      await step('begin', () => client.begin({ expectedSize: 16_384 }));
      const first = await step('chunk at offset 0', () =>
        chunkRequest(client, new Uint8Array(1000).fill(1), 0, 'chunk @ 0'),
      );
      check(
        first.status === 200 && writtenBytes(jsonOf(first)) === 1000,
        '200, written_bytes 1000',
        describeAnswer(first),
      );
      for (const [name, offset] of [
        ['ahead of written_bytes', 2000],
        ['a retransmission of offset 0', 0],
      ] as const) {
        const refused = await step(`chunk at offset ${offset} (${name})`, () =>
          chunkRequest(client, new Uint8Array(500).fill(2), offset, `chunk @ ${offset}`),
        );
        check(
          refused.status === 409 &&
            detailOf(refused) === 'offset mismatch; only sequential writes are supported',
          `409 {"detail":"offset mismatch; only sequential writes are supported"} for ${name}`,
          describeAnswer(refused),
        );
        const status = await step('status', () => client.status());
        check(
          writtenBytes(status) === 1000,
          'written_bytes still 1000 (nothing written)',
          `${writtenBytes(status)}`,
        );
      }
      const next = await step('chunk at offset 1000', () =>
        chunkRequest(client, new Uint8Array(500).fill(3), 1000, 'chunk @ 1000'),
      );
      check(
        next.status === 200 && writtenBytes(jsonOf(next)) === 1500,
        '200, written_bytes 1500',
        describeAnswer(next),
      );
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/write/2',
  'MUST',
  'refuses an empty chunk with 400 "empty chunk"',
  { source: `${REFERENCE} §1.5 ota_write step 2 (route, viperhttp_ota.py 687–688)` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      await step('begin', () => client.begin({ expectedSize: 4096 }));
      const empty = await step('empty chunk', () =>
        chunkRequest(client, new Uint8Array(0), 0, 'empty chunk'),
      );
      check(
        empty.status === 400 && detailOf(empty) === 'empty chunk',
        '400 {"detail":"empty chunk"}',
        describeAnswer(empty),
      );
      const one = await step('a one-byte chunk', () =>
        chunkRequest(client, new Uint8Array([7]), 0, 'one byte'),
      );
      check(
        one.status === 200 && writtenBytes(jsonOf(one)) === 1,
        '200, written_bytes 1',
        describeAnswer(one),
      );
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/write/3',
  'MUST',
  'refuses a chunk that would pass expected_size with 400 "chunk exceeds expected_size" and writes nothing',
  { source: `${WRITE} step 4` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      await step('begin with expected_size 3000', () => client.begin({ expectedSize: 3000 }));
      await step('chunk of 2000 at 0', () => client.chunk(new Uint8Array(2000), { offset: 0 }));
      const over = await step('chunk of 1001 at 2000', () =>
        chunkRequest(client, new Uint8Array(1001), 2000, 'chunk past the size'),
      );
      check(
        over.status === 400 && detailOf(over) === 'chunk exceeds expected_size',
        '400 {"detail":"chunk exceeds expected_size"}',
        describeAnswer(over),
      );
      const status = await step('status', () => client.status());
      check(writtenBytes(status) === 2000, 'written_bytes still 2000', `${writtenBytes(status)}`);
      const exact = await step('chunk of 1000 at 2000 fills the size exactly', () =>
        chunkRequest(client, new Uint8Array(1000), 2000, 'chunk to the size'),
      );
      check(
        exact.status === 200 && writtenBytes(jsonOf(exact)) === 3000,
        '200, written_bytes 3000',
        describeAnswer(exact),
      );
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/write/4',
  'MUST',
  'refuses begin with an expected_size above the update partition with 400 "expected_size exceeds update partition capacity"',
  { source: `${REFERENCE} §1.5 ota_begin step 5` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      const status = await step('known state: no session', () => settle(client, target));
      const capacity = status.next_update_partition?.size;
      check(
        typeof capacity === 'number' && capacity > 0,
        'next_update_partition.size in the status',
        `${capacity}`,
      );
      const size = capacity as number;
      const over = await step(`begin with expected_size ${size + 1}`, () =>
        client.request('POST', 'begin', { body: { expected_size: size + 1 }, step: 'begin over capacity' }),
      );
      check(
        over.status === 400 && detailOf(over) === 'expected_size exceeds update partition capacity',
        '400 {"detail":"expected_size exceeds update partition capacity"}',
        describeAnswer(over),
      );
      const idle = await step('status', () => client.status());
      check(idle.session === null, 'no session opened by the refused begin', JSON.stringify(idle.session));
      const exact = await step(`begin with expected_size ${size}`, () =>
        client.request('POST', 'begin', { body: { expected_size: size }, step: 'begin at capacity' }),
      );
      check(
        exact.status === 200 && jsonOf(exact)?.active === true,
        '200 active=true at exactly the capacity',
        describeAnswer(exact),
      );
      await client.abort();
    });
  },
);
