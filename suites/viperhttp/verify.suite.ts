import { flipBit } from '../../fixtures/index.ts';
import { requirement } from '../framework/index.ts';
import {
  appImage,
  CHUNK_SIZE,
  describeAnswer,
  detailOf,
  jsonOf,
  labelOf,
  pushThenFinalize,
  REFERENCE,
  rebootAndObserve,
  settle,
  sha256Hex,
  usingClient,
} from './viper-device.ts';

const FINALIZE = `${REFERENCE} §1.5 ota_finalize (viperhttp_ota.py 373–417)`;

requirement(
  'viperhttp/verify/1',
  'MUST',
  'finalize refuses an image whose digest differs from the expected_sha256 given at begin with 409 "sha256 mismatch"',
  { source: `${FINALIZE} step 4` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const image = appImage(target, '9.2.0', 21);
      const wrong = sha256Hex(appImage(target, '9.2.1', 22));
      const refused = await step('push with a wrong expected_sha256, finalize without boot', () =>
        pushThenFinalize(client, image, { expectedSha256: wrong, finalize: { set_boot: false } }),
      );
      check(
        refused.status === 409 && detailOf(refused) === 'sha256 mismatch',
        '409 {"detail":"sha256 mismatch"}',
        describeAnswer(refused),
      );
      await client.abort();
      const accepted = await step('push the same image with its digest', () =>
        pushThenFinalize(client, image, { finalize: { set_boot: false } }),
      );
      const result = jsonOf(accepted);
      check(
        accepted.status === 200 && result?.ok === true && result.sha256 === sha256Hex(image),
        `200 {"ok":true,"sha256":"${sha256Hex(image)}",…}`,
        describeAnswer(accepted),
      );
    });
  },
);

requirement(
  'viperhttp/verify/2',
  'MUST',
  'after a SHA mismatch the boot partition is unchanged and the old image still runs after a reboot',
  { source: `${FINALIZE}: any finalize failure leaves … no change to the boot partition`, needs: ['reset'] },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      const before = await step('known state: no session', () => settle(client, target));
      const runningBefore = labelOf(before.running_partition);
      const image = appImage(target, '9.3.0', 31);
      const refused = await step('push with a wrong expected_sha256, finalize with set_boot=true', () =>
        pushThenFinalize(client, image, { expectedSha256: sha256Hex(flipBit(image, 8)) }),
      );
      check(refused.status === 409, '409 for the mismatching image', describeAnswer(refused));
      const status = await step('status', () => client.status());
      check(
        labelOf(status.boot_partition) === labelOf(before.boot_partition),
        `boot_partition still ${labelOf(before.boot_partition)}`,
        `${labelOf(status.boot_partition)}`,
      );
      const booted = await step('reboot', () =>
        rebootAndObserve(target, client, 'reboot after the mismatch'),
      );
      check(
        labelOf(booted.status.running_partition) === runningBefore && booted.version !== '9.3.0',
        `${runningBefore} still running, not version 9.3.0`,
        `${labelOf(booted.status.running_partition)} running version ${booted.version ?? '(no console)'}`,
      );
      // Twin: the same image with its own digest does set the boot partition.
      const accepted = await step('push the same image with its digest', () =>
        pushThenFinalize(client, image),
      );
      check(accepted.status === 200, '200 for the same image with its digest', describeAnswer(accepted));
      const committed = await step('status', () => client.status());
      check(
        labelOf(committed.boot_partition) === labelOf(before.next_update_partition),
        `boot_partition now ${labelOf(before.next_update_partition)}`,
        `${labelOf(committed.boot_partition)}`,
      );
      await step('back to the running image', () =>
        rebootAndObserve(target, client, 'boot the accepted image'),
      );
      await client.request('POST', 'mark-valid', { body: {} });
    });
  },
);

requirement(
  'viperhttp/verify/3',
  'MUST',
  'a SHA mismatch leaves the session active: finalize fails again and begin needs abort or force',
  {
    source: `${FINALIZE}: SHA mismatch leaves the session ACTIVE …; the client must POST /abort or begin with force`,
  },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const image = appImage(target, '9.4.0', 41, 2 * CHUNK_SIZE);
      const first = await step('push with a wrong digest', () =>
        pushThenFinalize(client, image, { expectedSha256: '0'.repeat(64), finalize: { set_boot: false } }),
      );
      check(first.status === 409, '409 for the mismatch', describeAnswer(first));
      const status = await step('status', () => client.status());
      check(
        status.active === true && status.last_error === null,
        'the session still active, last_error null',
        JSON.stringify({ active: status.active, last_error: status.last_error }),
      );
      const again = await step('finalize again', () =>
        client.request('POST', 'finalize', { body: { set_boot: false }, step: 'finalize again' }),
      );
      check(
        again.status === 409 && detailOf(again) === 'sha256 mismatch',
        '409 {"detail":"sha256 mismatch"} again',
        describeAnswer(again),
      );
      const begin = await step('begin without force', () =>
        client.request('POST', 'begin', { body: { expected_size: 4096 }, step: 'begin without force' }),
      );
      check(begin.status === 409, '409: the session is still there', describeAnswer(begin));
      const aborted = await step('abort', () => client.abort());
      check(aborted.aborted === true, 'abort ends it (aborted=true)', JSON.stringify(aborted));
      const fresh = await step('begin after the abort', () =>
        client.request('POST', 'begin', { body: { expected_size: 4096 }, step: 'begin after abort' }),
      );
      check(fresh.status === 200, '200 for begin after the abort', describeAnswer(fresh));
      await client.abort();
    });
  },
);

requirement(
  'viperhttp/verify/4',
  'MUST',
  'a chunk corrupted in transit (one bit) is caught at finalize when the digest was given at begin',
  { source: `${FINALIZE} step 4; ${REFERENCE} §1.5 ota_write step 7 (the digest covers every written byte)` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      const before = await step('known state: no session', () => settle(client, target));
      const image = appImage(target, '9.5.0', 51);
      const digest = sha256Hex(image);
      const corrupted = flipBit(image, (3 * CHUNK_SIZE + 100) * 8 + 3);
      const refused = await step('push the corrupted bytes with the good digest at begin', () =>
        pushThenFinalize(client, corrupted, { expectedSha256: digest, finalize: { set_boot: true } }),
      );
      check(
        refused.status === 409 && detailOf(refused) === 'sha256 mismatch',
        '409 {"detail":"sha256 mismatch"}',
        describeAnswer(refused),
      );
      const status = await step('status', () => client.status());
      check(
        labelOf(status.boot_partition) === labelOf(before.boot_partition),
        `boot_partition still ${labelOf(before.boot_partition)}`,
        `${labelOf(status.boot_partition)}`,
      );
      await client.abort();
      const accepted = await step('push the intact image', () =>
        pushThenFinalize(client, image, { finalize: { set_boot: false } }),
      );
      check(accepted.status === 200, '200 for the intact bytes', describeAnswer(accepted));
    });
  },
);

requirement(
  'viperhttp/verify/5',
  'MUST',
  'finalize with strict_size refuses fewer bytes than expected_size with 409 "written size does not match expected_size"',
  { source: `${FINALIZE} step 2` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const image = appImage(target, '9.6.0', 61, 3 * CHUNK_SIZE, { neverBooted: true });
      await step('begin', () =>
        client.begin({ expectedSize: image.length, expectedSha256: sha256Hex(image) }),
      );
      await step('write two of three chunks', async () => {
        await client.chunk(image.subarray(0, CHUNK_SIZE), { offset: 0 });
        await client.chunk(image.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE), { offset: CHUNK_SIZE });
      });
      const short = await step('finalize (strict_size default)', () =>
        client.request('POST', 'finalize', { body: { set_boot: false }, step: 'finalize short' }),
      );
      check(
        short.status === 409 && detailOf(short) === 'written size does not match expected_size',
        '409 {"detail":"written size does not match expected_size"}',
        describeAnswer(short),
      );
      await step('write the last chunk', () =>
        client.chunk(image.subarray(2 * CHUNK_SIZE), { offset: 2 * CHUNK_SIZE }),
      );
      const full = await step('finalize', () =>
        client.request('POST', 'finalize', { body: { set_boot: false }, step: 'finalize complete' }),
      );
      check(
        full.status === 200 && jsonOf(full)?.ok === true,
        '200 {"ok":true,…} once every byte is written',
        describeAnswer(full),
      );
    });
  },
);

requirement(
  'viperhttp/verify/6',
  'MUST',
  'finalize refuses a session with no bytes written with 409 "no firmware bytes written"',
  { source: `${FINALIZE} step 3` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      await step('begin without expected_size', () => client.begin({}));
      const empty = await step('finalize', () =>
        client.request('POST', 'finalize', { body: { set_boot: false }, step: 'finalize empty' }),
      );
      check(
        empty.status === 409 && detailOf(empty) === 'no firmware bytes written',
        '409 {"detail":"no firmware bytes written"}',
        describeAnswer(empty),
      );
      const image = appImage(target, '9.7.0', 71, CHUNK_SIZE, { neverBooted: true });
      await step('write an image', () => client.chunk(image, { offset: 0 }));
      const full = await step('finalize', () =>
        client.request('POST', 'finalize', { body: { set_boot: false }, step: 'finalize with bytes' }),
      );
      check(
        full.status === 200 && jsonOf(full)?.written_bytes === image.length,
        `200 with written_bytes ${image.length}`,
        describeAnswer(full),
      );
    });
  },
);
