import { requirement } from '../framework/index.ts';
import {
  DOC_CHUNK_SIZE,
  describeAnswer,
  docStatus,
  isActive,
  pollStatus,
  progressOf,
  SEED,
  sessionIdOf,
  sessionTimeoutMs,
  settleDoc,
  timeoutSlackMs,
  usingDocClient,
  writeRequest,
} from './doc-device.ts';

const MANAGEMENT = `${SEED} § OTA Session Management`;

requirement(
  'viperhttp-doc/session/1',
  'MUST',
  'begin {"size"} opens a session and returns its identifier; a second begin while it is active is refused with 409 Conflict',
  { source: `${SEED} § Phase 1 ("Returns a session identifier"); ${MANAGEMENT}; § Error Handling (409)` },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      await step('known state: no session', () => settleDoc(client, target, check));
      const first = await step('begin {"size":8192}', () =>
        client.request('POST', 'begin', { body: { size: 8192 }, step: 'first begin' }),
      );
      const id = sessionIdOf(first);
      check(
        first.status === 200 && (typeof id === 'number' || (typeof id === 'string' && id !== '')),
        '200 with a session identifier (session_id / id)',
        describeAnswer(first),
      );
      const second = await step('a second begin', () =>
        client.request('POST', 'begin', { body: { size: 4096 }, step: 'second begin' }),
      );
      check(second.status === 409, '409 Conflict: a session is already active', describeAnswer(second));
      const status = await step('status', () => docStatus(client, check, 'status'));
      const activeId =
        (status.session as Record<string, unknown> | null | undefined)?.id ?? status.session_id;
      check(
        isActive(status) && activeId === id,
        `the first session (id ${String(id)}) still the active one`,
        JSON.stringify(status.session),
      );
    });
  },
);

requirement(
  'viperhttp-doc/session/2',
  'MUST',
  'a session that gets no write within the session timeout is cancelled, and a new begin is then accepted',
  { source: `${MANAGEMENT} ("if no write arrives within the timeout, the session is cancelled")` },
  async ({ target, step, check }) => {
    const timeout = sessionTimeoutMs(target);
    const slack = timeoutSlackMs(target);
    await usingDocClient(target, async (client) => {
      await step('known state: no session', () => settleDoc(client, target, check));
      const begun = await step('begin {"size":8192}', () =>
        client.request('POST', 'begin', { body: { size: 8192 }, step: 'begin' }),
      );
      check(begun.status === 200, '200 for begin', describeAnswer(begun));
      const startedAt = performance.now();
      const active = await step('status right after begin', () =>
        docStatus(client, check, 'status after begin'),
      );
      check(isActive(active), 'the session active right after begin', JSON.stringify(active.session));
      const ended = await step(`wait up to ${timeout + slack} ms for the session to end`, () =>
        pollStatus(
          client,
          (status) => !isActive(status),
          timeout + slack,
          'status (waiting for the timeout)',
        ),
      );
      const elapsed = Math.round(performance.now() - startedAt);
      check(
        ended.held,
        `the session cancelled within ${timeout} ms (+${slack} ms slack) of begin (no write)`,
        `still active after ${elapsed} ms: ${JSON.stringify(ended.status.session)}`,
      );
      check(
        elapsed >= timeout * 0.9,
        `the session kept for about the timeout (${timeout} ms) after begin`,
        `cancelled after ${elapsed} ms`,
      );
      const fresh = await step('begin again', () =>
        client.request('POST', 'begin', { body: { size: 4096 }, step: 'begin after the timeout' }),
      );
      check(fresh.status === 200, '200: the timed-out session no longer blocks begin', describeAnswer(fresh));
    });
  },
);

requirement(
  'viperhttp-doc/session/3',
  'MUST',
  'the status tracks progress: bytes written out of the declared size',
  {
    source: `${SEED} § Phase 2 ("Tracks progress (bytes written / total size)"); ${MANAGEMENT} (byte counters, status endpoints)`,
  },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      await step('known state: no session', () => settleDoc(client, target, check));
      const size = 4 * DOC_CHUNK_SIZE;
      const begun = await step(`begin {"size":${size}}`, () =>
        client.request('POST', 'begin', { body: { size }, step: 'begin' }),
      );
      check(begun.status === 200, `200 for begin {"size":${size}}`, describeAnswer(begun));
      const start = progressOf(
        await step('status after begin', () => docStatus(client, check, 'status after begin')),
      );
      check(start.written === 0 && start.size === size, `0 of ${size} bytes written`, JSON.stringify(start));
      for (let chunk = 1; chunk <= 2; chunk++) {
        const written = await step(`write chunk ${chunk}`, () =>
          writeRequest(client, new Uint8Array(DOC_CHUNK_SIZE).fill(chunk), `write chunk ${chunk}`),
        );
        check(written.status === 200, `200 for POST /ota/write (chunk ${chunk})`, describeAnswer(written));
        const now = progressOf(
          await step(`status after chunk ${chunk}`, () =>
            docStatus(client, check, `status after chunk ${chunk}`),
          ),
        );
        const expected = chunk * DOC_CHUNK_SIZE;
        check(
          now.written === expected &&
            now.size === size &&
            (now.pct === undefined || now.pct === (expected * 100) / size),
          `${expected} of ${size} bytes written (${(expected * 100) / size} %)`,
          JSON.stringify(now),
        );
      }
    });
  },
);
