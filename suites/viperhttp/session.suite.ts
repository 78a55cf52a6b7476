import { requirement } from '../framework/index.ts';
import {
  appImage,
  CHUNK_SIZE,
  describeAnswer,
  detailOf,
  jsonOf,
  REFERENCE,
  sessionOf,
  settle,
  sha256Hex,
  usingClient,
  writtenBytes,
} from './viper-device.ts';

const BEGIN = `${REFERENCE} §1.5 ota_begin (viperhttp_ota.py 249–302)`;
const WRITE = `${REFERENCE} §1.5 ota_write (viperhttp_ota.py 321–370)`;
const FINALIZE = `${REFERENCE} §1.5 ota_finalize (viperhttp_ota.py 373–417)`;
const ABORT = `${REFERENCE} §1.5 ota_abort (viperhttp_ota.py 420–428)`;

requirement(
  'viperhttp/session/1',
  'MUST',
  'refuses a second begin without force while a session is active with 409 "ota session already active"',
  { source: `${BEGIN} step 2` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const first = await step('first begin', () =>
        client.request('POST', 'begin', { body: { expected_size: 8192 }, step: 'first begin' }),
      );
      const firstId = sessionOf(jsonOf(first))?.id;
      check(
        first.status === 200 && jsonOf(first)?.active === true && typeof firstId === 'number',
        '200 with active=true and a session id for the first begin',
        describeAnswer(first),
      );
      await step('write one chunk into it', () =>
        client.chunk(new Uint8Array(1024).fill(0x5a), { offset: 0 }),
      );
      const second = await step('second begin without force', () =>
        client.request('POST', 'begin', { body: { expected_size: 4096 }, step: 'second begin' }),
      );
      check(
        second.status === 409 && detailOf(second) === 'ota session already active',
        '409 {"detail":"ota session already active"}',
        describeAnswer(second),
      );
      const after = await step('status', () => client.status());
      check(
        sessionOf(after)?.id === firstId &&
          writtenBytes(after) === 1024 &&
          sessionOf(after)?.expected_size === 8192,
        `the first session (id ${firstId}, 1024 of 8192 bytes) still active`,
        JSON.stringify(sessionOf(after)),
      );
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/session/2',
  'MUST',
  'begin with force=true takes over an active session: 200, a new session id, nothing written yet',
  { source: `${BEGIN} step 2 (force calls ota_abort first) and 7–8` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const first = await step('first begin', () => client.begin({ expectedSize: 8192 }));
      const firstId = sessionOf(first)?.id as number;
      await step('write one chunk', () => client.chunk(new Uint8Array(2048).fill(1), { offset: 0 }));
      const forced = await step('begin with force=true', () =>
        client.request('POST', 'begin', { body: { expected_size: 4096, force: true }, step: 'forced begin' }),
      );
      const body = jsonOf(forced);
      check(
        forced.status === 200 &&
          body?.active === true &&
          sessionOf(body)?.id === firstId + 1 &&
          writtenBytes(body) === 0 &&
          sessionOf(body)?.expected_size === 4096 &&
          body.last_error === null,
        `200, session id ${firstId + 1}, written_bytes 0, expected_size 4096, last_error null`,
        describeAnswer(forced),
      );
      const chunk = await step('a chunk at offset 0 goes into the new session', () =>
        client.request('POST', 'chunk', {
          body: new Uint8Array(100).fill(2),
          query: { offset: 0 },
          headers: { 'content-type': 'application/octet-stream' },
        }),
      );
      check(
        chunk.status === 200 && writtenBytes(jsonOf(chunk)) === 100,
        '200 with written_bytes 100 (the new session starts at 0)',
        describeAnswer(chunk),
      );
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/session/3',
  'MUST',
  'refuses a chunk without an active session with 409 "ota session is not active"',
  { source: `${WRITE} step 1` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const chunk = new Uint8Array(512).fill(0xa5);
      const send = (name: string) =>
        client.request('POST', 'chunk', {
          body: chunk,
          query: { offset: 0 },
          headers: { 'content-type': 'application/octet-stream' },
          step: name,
        });
      const refused = await step('chunk without a session', () => send('chunk without a session'));
      check(
        refused.status === 409 && detailOf(refused) === 'ota session is not active',
        '409 {"detail":"ota session is not active"}',
        describeAnswer(refused),
      );
      await step('begin', () => client.begin({ expectedSize: 4096 }));
      const accepted = await step('the same chunk inside a session', () => send('chunk in a session'));
      check(
        accepted.status === 200 && writtenBytes(jsonOf(accepted)) === chunk.length,
        `200 with written_bytes ${chunk.length}`,
        describeAnswer(accepted),
      );
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/session/4',
  'MUST',
  'refuses finalize without an active session with 409 "ota session is not active"',
  { source: `${FINALIZE} step 1` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const finalize = (name: string) =>
        client.request('POST', 'finalize', { body: { set_boot: false, reboot: false }, step: name });
      const refused = await step('finalize without a session', () => finalize('finalize without a session'));
      check(
        refused.status === 409 && detailOf(refused) === 'ota session is not active',
        '409 {"detail":"ota session is not active"}',
        describeAnswer(refused),
      );
      // Twin: a complete session finalizes (set_boot=false keeps the boot slot as it is).
      const image = appImage(target, '9.1.0', 11, 2 * CHUNK_SIZE, { neverBooted: true });
      await step('begin with size and digest', () =>
        client.begin({ expectedSize: image.length, expectedSha256: sha256Hex(image) }),
      );
      await step('write the image', async () => {
        await client.chunk(image.subarray(0, CHUNK_SIZE), { offset: 0 });
        await client.chunk(image.subarray(CHUNK_SIZE), { offset: CHUNK_SIZE });
      });
      const accepted = await step('finalize the session', () => finalize('finalize a session'));
      const result = jsonOf(accepted);
      check(
        accepted.status === 200 && result?.ok === true && result.written_bytes === image.length,
        `200 {"ok":true,"written_bytes":${image.length},…}`,
        describeAnswer(accepted),
      );
      const after = await step('status', () => client.status());
      check(
        after.session === null && after.active === false,
        'no session after a successful finalize',
        JSON.stringify(after.session),
      );
    });
  },
);

requirement(
  'viperhttp/session/5',
  'MUST',
  'abort ends the active session (200 aborted=true, last_error "aborted") and is a 200 no-op when idle',
  { source: ABORT },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const idle = await step('abort while idle', () => client.request('POST', 'abort', { body: {} }));
      const idleBody = jsonOf(idle);
      check(
        idle.status === 200 &&
          idleBody?.ok === true &&
          idleBody.aborted === false &&
          idleBody.active === false,
        '200 {"ok":true,"aborted":false,"active":false}',
        describeAnswer(idle),
      );
      const begun = await step('begin', () => client.begin({ expectedSize: 4096 }));
      const id = sessionOf(begun)?.id;
      const aborted = await step('abort the session', () => client.request('POST', 'abort', { body: {} }));
      const body = jsonOf(aborted);
      check(
        aborted.status === 200 && body?.ok === true && body.aborted === true && body.session_id === id,
        `200 {"ok":true,"aborted":true,"session_id":${id},"active":false}`,
        describeAnswer(aborted),
      );
      const status = await step('status', () => client.status());
      check(
        status.session === null && status.active === false && status.last_error === 'aborted',
        'session null, active false, last_error "aborted"',
        JSON.stringify({ active: status.active, session: status.session, last_error: status.last_error }),
      );
      const chunk = await step('a chunk after the abort', () =>
        client.request('POST', 'chunk', {
          body: new Uint8Array(16),
          query: { offset: 0 },
          headers: { 'content-type': 'application/octet-stream' },
        }),
      );
      check(chunk.status === 409, '409 for a chunk after the abort', describeAnswer(chunk));
    });
  },
);
