import { requirement } from '../framework/index.ts';
import {
  CHUNK_SIZE,
  exchangeOnOneConnection,
  REFERENCE,
  requestBytes,
  settle,
  usingClient,
  writtenBytes,
} from './viper-device.ts';

const LIMITS = `${REFERENCE} §1.8 (vhttp_config.h 173–182; vhttp_server_task.c ~8538, ~8546, 8204)`;
const RECEIVE_BUFFER = 4096;
const KEEPALIVE_REQUESTS = 16;

requirement(
  'viperhttp/transport/1',
  'MUST',
  'answers a request longer than the 4096-byte receive buffer with 413 and closes the connection, writing nothing',
  { source: `${LIMITS}: VHTTP_RECV_BUF_SIZE` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      await step('begin', () => client.begin({ expectedSize: 3 * RECEIVE_BUFFER }));
      const fits = await step(`a ${CHUNK_SIZE}-byte chunk (the E2E client's size)`, () =>
        exchangeOnOneConnection(
          target,
          [
            requestBytes(target, 'POST', '/ota/chunk?offset=0', {
              body: new Uint8Array(CHUNK_SIZE).fill(0x11),
              headers: [['Content-Type', 'application/octet-stream']],
            }),
          ],
          'chunk that fits',
          { awaitClose: false },
        ),
      );
      check(
        fits.statuses[0] === 200,
        `200 for a ${CHUNK_SIZE}-byte chunk`,
        `${fits.statuses.join(', ') || 'no answer'}`,
      );
      const tooLarge = await step(
        `a ${RECEIVE_BUFFER}-byte chunk (request over ${RECEIVE_BUFFER} bytes)`,
        () =>
          exchangeOnOneConnection(
            target,
            [
              requestBytes(target, 'POST', `/ota/chunk?offset=${CHUNK_SIZE}`, {
                body: new Uint8Array(RECEIVE_BUFFER).fill(0x22),
                headers: [['Content-Type', 'application/octet-stream']],
              }),
            ],
            'chunk over the limit',
            { awaitClose: true },
          ),
      );
      check(
        tooLarge.statuses[0] === 413 && tooLarge.closed,
        '413 Payload Too Large, then the connection closed',
        `${tooLarge.statuses[0] ?? 'no answer'}, ${tooLarge.closed ? 'closed' : 'left open'}`,
      );
      const status = await step('status', () => client.status());
      check(
        writtenBytes(status) === CHUNK_SIZE,
        `written_bytes still ${CHUNK_SIZE}`,
        `${writtenBytes(status)}`,
      );
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/transport/2',
  'MUST',
  'refuses a chunk sent with Transfer-Encoding: chunked (400 or 501) and writes nothing; the same bytes with Content-Length are accepted',
  { source: `${REFERENCE} §1.8 (vhttp_parser.c 276–278; vhttp_server_task.c ~8546–8549 vs ~8960–8968)` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      await step('begin', () => client.begin({ expectedSize: 4096 }));
      const body = new Uint8Array(1024).fill(0x33);
      const chunked = await step('chunk with Transfer-Encoding: chunked', () =>
        client.rawRequest(
          {
            method: 'POST',
            path: '/ota/chunk?offset=0',
            headers: [['Content-Type', 'application/octet-stream']],
            body,
            chunked: 256,
          },
          { auth: true, step: 'chunked chunk' },
        ),
      );
      check(
        chunked.status === 400 || chunked.status === 501,
        '400 or 501 for a chunked body',
        `${chunked.status ?? 'no answer'} ${chunked.body.toString('latin1').slice(0, 100)}`,
      );
      const after = await step('status', () => client.status());
      check(writtenBytes(after) === 0, 'written_bytes still 0', `${writtenBytes(after)}`);
      const plain = await step('the same chunk with Content-Length', () =>
        client.rawRequest(
          {
            method: 'POST',
            path: '/ota/chunk?offset=0',
            headers: [['Content-Type', 'application/octet-stream']],
            body,
          },
          { auth: true, step: 'chunk with Content-Length' },
        ),
      );
      check(plain.status === 200, '200 with Content-Length', `${plain.status ?? 'no answer'}`);
      const written = await step('status', () => client.status());
      check(
        writtenBytes(written) === body.length,
        `written_bytes ${body.length}`,
        `${writtenBytes(written)}`,
      );
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/transport/3',
  'SHOULD',
  'serves at most 16 requests on one keep-alive connection, then closes it',
  { source: `${LIMITS}: VHTTP_MAX_KEEPALIVE_REQUESTS` },
  async ({ target, step, check }) => {
    const status = requestBytes(target, 'GET', '/ota/status');
    const exchange = await step(`${KEEPALIVE_REQUESTS + 1} status requests on one connection`, () =>
      exchangeOnOneConnection(
        target,
        Array.from({ length: KEEPALIVE_REQUESTS + 1 }, () => status),
        'keep-alive budget',
        { awaitClose: true },
      ),
    );
    const answered = exchange.statuses.filter((code) => code === 200).length;
    check(
      answered === KEEPALIVE_REQUESTS && exchange.statuses.length === KEEPALIVE_REQUESTS && exchange.closed,
      `${KEEPALIVE_REQUESTS} answers of 200, then the connection closed`,
      `${exchange.statuses.length} answers (${answered} of them 200), ${exchange.closed ? 'closed' : 'left open'}`,
    );
  },
);
