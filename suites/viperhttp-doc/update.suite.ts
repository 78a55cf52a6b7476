import { requirement } from '../framework/index.ts';
import {
  appImage,
  beginAndWrite,
  bootCommitted,
  describeAnswer,
  finalizeRequest,
  jsonOf,
  labelOf,
  rebootDoc,
  SEED,
  settleDoc,
  sha256Hex,
  usingDocClient,
} from './doc-device.ts';

requirement(
  'viperhttp-doc/update/1',
  'MUST',
  'a good update (begin {"size"}, writes, finalize {"sha256"}) is accepted and the device then runs the new firmware',
  {
    source: `${SEED} § Overview ("After verification, the device reboots into the updated firmware"), § Update Lifecycle`,
    needs: ['reset'],
  },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      const before = await step('known state: no session', () => settleDoc(client, target, check));
      const image = appImage(target, '8.1.0', 801);
      await step('begin and write 8.1.0', () => beginAndWrite(client, image, check));
      const finalized = await step('finalize {"sha256":…}', () =>
        finalizeRequest(client, { sha256: sha256Hex(image) }, 'finalize'),
      );
      check(
        finalized.status === 200 && jsonOf(finalized)?.ok !== false,
        '200: the update verified and committed',
        describeAnswer(finalized),
      );
      const booted = await step('reboot', () => rebootDoc(target, client, 'boot the update'));
      const expected = labelOf(before.next_update_partition);
      check(
        (expected === undefined || labelOf(booted.status.running_partition) === expected) &&
          labelOf(booted.status.running_partition) !== labelOf(before.running_partition) &&
          (booted.version === undefined || booted.version === '8.1.0'),
        `8.1.0 running${expected === undefined ? '' : ` from ${expected}`}`,
        `${labelOf(booted.status.running_partition)} running version ${booted.version ?? '(no console)'}`,
      );
    });
  },
);

requirement(
  'viperhttp-doc/update/2',
  'MUST',
  'finalize with a sha256 that does not match the written bytes is rejected and the current firmware keeps running',
  {
    source: `${SEED} § SHA256 Verification, § Overview ("the device continues running the current firmware")`,
    needs: ['reset'],
  },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      const before = await step('known state: no session', () => settleDoc(client, target, check));
      const image = appImage(target, '8.2.0', 802);
      await step('begin and write 8.2.0', () => beginAndWrite(client, image, check));
      const refused = await step('finalize with the digest of another image', () =>
        finalizeRequest(
          client,
          { sha256: sha256Hex(appImage(target, '8.2.1', 803)) },
          'finalize (wrong sha256)',
        ),
      );
      check(
        refused.status >= 400 && refused.status < 500,
        'a 4xx rejection of the mismatching update',
        describeAnswer(refused),
      );
      const booted = await step('reboot', () => rebootDoc(target, client, 'reboot after the rejection'));
      check(
        labelOf(booted.status.running_partition) === labelOf(before.running_partition) &&
          booted.version !== '8.2.0',
        `${labelOf(before.running_partition)} still running, not 8.2.0`,
        `${labelOf(booted.status.running_partition)} running version ${booted.version ?? '(no console)'}`,
      );
      // Twin: the same bytes with their own digest are accepted.
      await step('begin and write 8.2.0 again', () => beginAndWrite(client, image, check));
      const accepted = await step('finalize with its digest', () =>
        finalizeRequest(client, { sha256: sha256Hex(image) }, 'finalize (right sha256)'),
      );
      check(accepted.status === 200, '200 for the matching digest', describeAnswer(accepted));
      await step('boot the committed image', () => bootCommitted(target, client));
    });
  },
);
