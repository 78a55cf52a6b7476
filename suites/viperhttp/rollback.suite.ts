import { requirement } from '../framework/index.ts';
import {
  appImage,
  labelOf,
  REFERENCE,
  rebootAndObserve,
  settle,
  updateAndReboot,
  usingClient,
} from './viper-device.ts';

const SOURCE = `${REFERENCE} §1.5 ota_mark_app_valid (viperhttp_ota.py 431–438; sdkconfig.base line 17); §1.9 step 7`;

requirement(
  'viperhttp/rollback/1',
  'MUST',
  'an updated image that was not marked valid is rolled back at the next reset',
  { source: SOURCE, needs: ['rollback', 'reset'] },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const { before, booted } = await step('update to 5.0.0 and reboot', () =>
        updateAndReboot(target, client, appImage(target, '5.0.0', 501)),
      );
      const oldSlot = labelOf(before.running_partition);
      check(
        labelOf(booted.status.running_partition) === labelOf(before.next_update_partition),
        `5.0.0 running from ${labelOf(before.next_update_partition)} after the update`,
        `${labelOf(booted.status.running_partition)}`,
      );
      const again = await step('reset without mark-valid', () => rebootAndObserve(target, client, 'reset'));
      check(
        labelOf(again.status.running_partition) === oldSlot && again.version !== '5.0.0',
        `rolled back: ${oldSlot} running, not 5.0.0`,
        `${labelOf(again.status.running_partition)} running version ${again.version ?? '(no console)'}`,
      );
    });
  },
);

requirement(
  'viperhttp/rollback/2',
  'MUST',
  'an updated image marked valid (POST /ota/mark-valid → {"ok":true}) keeps running after the next reset',
  { source: SOURCE, needs: ['rollback', 'reset'] },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const { before, booted } = await step('update to 5.1.0 and reboot', () =>
        updateAndReboot(target, client, appImage(target, '5.1.0', 511)),
      );
      const newSlot = labelOf(before.next_update_partition);
      check(
        labelOf(booted.status.running_partition) === newSlot,
        `5.1.0 running from ${newSlot} after the update`,
        `${labelOf(booted.status.running_partition)}`,
      );
      const marked = await step('mark-valid', () => client.markValid());
      check(marked.ok === true, '{"ok":true}', JSON.stringify(marked));
      const again = await step('reset', () => rebootAndObserve(target, client, 'reset'));
      check(
        labelOf(again.status.running_partition) === newSlot &&
          (again.version === undefined || again.version === '5.1.0'),
        `5.1.0 still running from ${newSlot}`,
        `${labelOf(again.status.running_partition)} running version ${again.version ?? '(no console)'}`,
      );
    });
  },
);
