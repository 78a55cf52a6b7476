import { requirement } from '../framework/index.ts';
import {
  appImage,
  beginAndWrite,
  bootCommitted,
  DOC_CHUNK_SIZE,
  describeAnswer,
  finalizeRequest,
  SEED,
  settleDoc,
  sha256Hex,
  usingDocClient,
  writeRequest,
} from './doc-device.ts';

const ERRORS = `${SEED} § Error Handling (400 Bad Request: missing parameters, invalid session state)`;

requirement(
  'viperhttp-doc/params/1',
  'MUST',
  'refuses begin without "size" with 400 Bad Request',
  { source: `${ERRORS}; § Phase 1 ({"size": N})` },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      await step('known state: no session', () => settleDoc(client, target, check));
      const missing = await step('begin {}', () =>
        client.request('POST', 'begin', { body: {}, step: 'begin {}' }),
      );
      check(missing.status === 400, '400 for begin without size', describeAnswer(missing));
      const given = await step('begin {"size":4096}', () =>
        client.request('POST', 'begin', { body: { size: 4096 }, step: 'begin with size' }),
      );
      check(given.status === 200, '200 for begin with size', describeAnswer(given));
    });
  },
);

requirement(
  'viperhttp-doc/params/2',
  'MUST',
  'refuses finalize without "sha256" with 400 Bad Request',
  { source: `${ERRORS}; § Phase 3 ({"sha256": "expected_hash_hex"})` },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      await step('known state: no session', () => settleDoc(client, target, check));
      const image = appImage(target, '7.2.0', 702, 2 * DOC_CHUNK_SIZE);
      await step('begin and write the image', () => beginAndWrite(client, image, check));
      const missing = await step('finalize {}', () => finalizeRequest(client, {}, 'finalize {}'));
      check(missing.status === 400, '400 for finalize without sha256', describeAnswer(missing));
      const given = await step('finalize {"sha256":…}', () =>
        finalizeRequest(client, { sha256: sha256Hex(image) }, 'finalize with sha256'),
      );
      check(given.status === 200, '200 for finalize with the image digest', describeAnswer(given));
      await step('boot the committed image', () => bootCommitted(target, client));
    });
  },
);

requirement(
  'viperhttp-doc/params/3',
  'MUST',
  'refuses a write without an active session with 400 Bad Request (invalid session state)',
  { source: `${ERRORS}; § Phase 2 ("Validates the active OTA session")` },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      await step('known state: no session', () => settleDoc(client, target, check));
      const chunk = new Uint8Array(DOC_CHUNK_SIZE).fill(0x5a);
      const refused = await step('write without a session', () =>
        writeRequest(client, chunk, 'write without a session'),
      );
      check(refused.status === 400, '400 for a write without a session', describeAnswer(refused));
      const begun = await step('begin', () =>
        client.request('POST', 'begin', { body: { size: 2 * DOC_CHUNK_SIZE }, step: 'begin' }),
      );
      check(begun.status === 200, `200 for begin {"size":${2 * DOC_CHUNK_SIZE}}`, describeAnswer(begun));
      const accepted = await step('the same write inside a session', () =>
        writeRequest(client, chunk, 'write in a session'),
      );
      check(accepted.status === 200, '200 for the write inside a session', describeAnswer(accepted));
    });
  },
);
