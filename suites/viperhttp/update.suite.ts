import { requirement } from '../framework/index.ts';
import {
  appImage,
  describeAnswer,
  detailOf,
  jsonOf,
  labelOf,
  REFERENCE,
  rebootAndObserve,
  settle,
  sha256Hex,
  updateAndReboot,
  usingClient,
} from './viper-device.ts';

const FLOW = `${REFERENCE} §1.9 canonical client flow (tools/ota_e2e_test.py)`;

requirement(
  'viperhttp/update/1',
  'MUST',
  'a good update (begin with size and digest, chunks with offsets, finalize reboot=true) reboots into the new image',
  { source: `${FLOW}; §1.5 ota_finalize steps 5–7` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      const image = appImage(target, '2.1.0', 101);
      const { before, booted } = await step('update to 2.1.0 and reboot', () =>
        updateAndReboot(target, client, image),
      );
      const expected = labelOf(before.next_update_partition);
      check(
        labelOf(booted.status.running_partition) === expected &&
          labelOf(booted.status.boot_partition) === expected,
        `running_partition and boot_partition ${expected} (the old next-update slot)`,
        `running ${labelOf(booted.status.running_partition)}, boot ${labelOf(booted.status.boot_partition)}`,
      );
      if (booted.version !== undefined)
        check(
          booted.version === '2.1.0',
          'the boot log prints App version 2.1.0',
          `App version ${booted.version}`,
        );
      const marked = await step('mark-valid', () => client.markValid());
      check(marked.ok === true, 'mark-valid answers {"ok":true}', JSON.stringify(marked));
    });
  },
);

requirement(
  'viperhttp/update/2',
  'MUST',
  'three updates in a row each boot the newest image, alternating the two OTA slots',
  { source: `${FLOW}; §1.5 ota_finalize step 5 (set_boot = esp_ota_set_boot_partition, otadata)` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      await step('known state: no session', () => settle(client, target));
      for (const [index, version] of ['3.0.1', '3.0.2', '3.0.3'].entries()) {
        const { before, booted } = await step(`update ${index + 1}: ${version}`, () =>
          updateAndReboot(target, client, appImage(target, version, 200 + index)),
        );
        const expected = labelOf(before.next_update_partition);
        check(
          labelOf(booted.status.running_partition) === expected &&
            expected !== labelOf(before.running_partition) &&
            (booted.version === undefined || booted.version === version),
          `update ${index + 1}: ${version} running from ${expected}`,
          `${labelOf(booted.status.running_partition)} running version ${booted.version ?? '(no console)'}`,
        );
        await step(`mark ${version} valid`, () => client.markValid());
      }
    });
  },
);

requirement(
  'viperhttp/update/3',
  'MUST',
  'POST /ota/upload applies a whole image from one request, and refuses one with a wrong expected_sha256 (409, session aborted)',
  { source: `${REFERENCE} §1.5 ota_apply (viperhttp_ota.py 441–449; route 737–765)` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      const before = await step('known state: no session', () => settle(client, target));
      // Headers and image must fit one 4096-byte request (§1.8).
      const image = appImage(target, '4.0.0', 301, 2048, { fitsIn: 2048 });
      const upload = (expectedSha256: string, name: string) =>
        client.request('POST', 'upload', {
          body: image,
          query: { expected_sha256: expectedSha256, set_boot: true, reboot: false },
          headers: { 'content-type': 'application/octet-stream' },
          step: name,
        });
      const refused = await step('upload with a wrong expected_sha256', () =>
        upload(sha256Hex(appImage(target, '4.0.1', 302, 2048, { fitsIn: 2048 })), 'upload (wrong digest)'),
      );
      check(
        refused.status === 409 && detailOf(refused) === 'sha256 mismatch',
        '409 {"detail":"sha256 mismatch"}',
        describeAnswer(refused),
      );
      const afterRefusal = await step('status', () => client.status());
      check(
        afterRefusal.session === null &&
          afterRefusal.last_error === 'aborted' &&
          labelOf(afterRefusal.boot_partition) === labelOf(before.boot_partition),
        `no session, last_error "aborted", boot_partition still ${labelOf(before.boot_partition)}`,
        JSON.stringify({
          session: afterRefusal.session,
          last_error: afterRefusal.last_error,
          boot: labelOf(afterRefusal.boot_partition),
        }),
      );
      const accepted = await step('upload with its digest', () => upload(sha256Hex(image), 'upload'));
      const result = jsonOf(accepted);
      check(
        accepted.status === 200 && result?.ok === true && result.written_bytes === image.length,
        `200 {"ok":true,"written_bytes":${image.length},…}`,
        describeAnswer(accepted),
      );
      const status = await step('status', () => client.status());
      check(
        labelOf(status.boot_partition) === labelOf(before.next_update_partition),
        `boot_partition ${labelOf(before.next_update_partition)}`,
        `${labelOf(status.boot_partition)}`,
      );
      if (target.capabilities.has('reset') || target.capabilities.has('power-cycle')) {
        const booted = await step('reboot', () =>
          rebootAndObserve(target, client, 'boot the uploaded image'),
        );
        check(
          labelOf(booted.status.running_partition) === labelOf(before.next_update_partition) &&
            (booted.version === undefined || booted.version === '4.0.0'),
          `4.0.0 running from ${labelOf(before.next_update_partition)}`,
          `${labelOf(booted.status.running_partition)} running version ${booted.version ?? '(no console)'}`,
        );
        await client.markValid();
      }
    });
  },
);
