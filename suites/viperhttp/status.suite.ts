import { requirement } from '../framework/index.ts';
import { labelOf, REFERENCE, sessionOf, settle, sha256Hex, usingClient } from './viper-device.ts';

const SOURCE = `${REFERENCE} §1.7 _status_snapshot (viperhttp_ota.py 184–233)`;

/** The partition dict of §1.7: `raw` is Partition.info() = (type, subtype, address, size, label, encrypted). */
function partitionProblems(name: string, value: unknown): string[] {
  if (value === null || typeof value !== 'object') return [`${name} is not an object`];
  const partition = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of ['type', 'subtype', 'address', 'size'] as const)
    if (typeof partition[key] !== 'number') problems.push(`${name}.${key} is not a number`);
  if (typeof partition.label !== 'string') problems.push(`${name}.label is not a string`);
  if (typeof partition.encrypted !== 'boolean') problems.push(`${name}.encrypted is not a boolean`);
  const raw = partition.raw;
  if (
    !Array.isArray(raw) ||
    raw.length !== 6 ||
    raw[0] !== partition.type ||
    raw[1] !== partition.subtype ||
    raw[2] !== partition.address ||
    raw[3] !== partition.size ||
    raw[4] !== partition.label ||
    raw[5] !== partition.encrypted
  )
    problems.push(`${name}.raw is not [type, subtype, address, size, label, encrypted]`);
  return problems;
}

requirement(
  'viperhttp/status/1',
  'MUST',
  'GET /ota/status answers the snapshot: supported, active, running/boot/next partitions, last_result, last_error, session null when idle',
  { source: SOURCE },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      const status = await step('known state: no session', () => settle(client, target));
      const problems = [
        ...(status.supported === true ? [] : ['supported is not true']),
        ...(status.active === false ? [] : ['active is not false while idle']),
        ...(status.session === null ? [] : ['session is not null while idle']),
        ...('last_result' in status ? [] : ['last_result is missing']),
        ...(status.last_error === null || status.last_error === 'aborted'
          ? []
          : [`last_error is ${JSON.stringify(status.last_error)} (only null or "aborted" exist)`]),
        ...partitionProblems('running_partition', status.running_partition),
        ...partitionProblems('boot_partition', status.boot_partition),
        ...partitionProblems('next_update_partition', status.next_update_partition),
      ];
      check(problems.length === 0, 'the §1.7 snapshot shape', problems.join('; '));
      const running = labelOf(status.running_partition);
      const next = labelOf(status.next_update_partition);
      check(
        running !== undefined && next !== undefined && running !== next,
        'running_partition and next_update_partition name different slots (§1.9 step 1)',
        `running ${running}, next ${next}`,
      );
      // Idle again after a session ends: a finalize (set_boot=false leaves the boot slot alone)
      // must clear the session and leave its result as last_result.
      const image = new Uint8Array(1024).fill(0x3c);
      const begun = await step('begin with size and digest', () =>
        client.begin({ expectedSize: image.length, expectedSha256: sha256Hex(image) }),
      );
      await step('write the bytes', () => client.chunk(image, { offset: 0 }));
      await step('finalize without set_boot', () => client.finalize({ setBoot: false }));
      const after = await step('status after the finalize', () => client.status());
      const result = after.last_result as Record<string, unknown> | null;
      check(
        after.active === false &&
          after.session === null &&
          result?.ok === true &&
          result.session_id === sessionOf(begun)?.id &&
          result.written_bytes === image.length &&
          result.sha256 === sha256Hex(image),
        `idle (active false, session null) with last_result {"ok":true,"session_id":${sessionOf(begun)?.id},"written_bytes":${image.length},"sha256":…}`,
        JSON.stringify({ active: after.active, session: after.session, last_result: after.last_result }),
      );
    });
  },
);

requirement(
  'viperhttp/status/2',
  'MUST',
  'the session in the status counts progress: written_bytes, remaining_bytes, progress_pct, capacity and the expected digest',
  { source: SOURCE },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      const idle = await step('known state: no session', () => settle(client, target));
      const expectedSize = 10_000;
      const digest = sha256Hex(new Uint8Array(expectedSize));
      await step('begin with size and an upper-case digest', () =>
        client.begin({ expectedSize, expectedSha256: digest.toUpperCase() }),
      );
      const at0 = sessionOf(await step('status after begin', () => client.status()));
      check(
        at0?.written_bytes === 0 &&
          at0.remaining_bytes === expectedSize &&
          at0.progress_pct === 0 &&
          at0.expected_size === expectedSize &&
          at0.expected_sha256 === digest &&
          at0.block_size === 4096 &&
          at0.capacity_bytes === (idle.next_update_partition?.size ?? at0.capacity_bytes) &&
          labelOf(at0.partition) === labelOf(idle.next_update_partition),
        `written 0, remaining ${expectedSize}, progress 0, block_size 4096, the digest lower-cased, the next slot`,
        JSON.stringify(at0),
      );
      await step('write 2500 bytes', () => client.chunk(new Uint8Array(2500), { offset: 0 }));
      const at1 = sessionOf(await step('status after 2500 bytes', () => client.status()));
      check(
        at1?.written_bytes === 2500 && at1.remaining_bytes === 7500 && at1.progress_pct === 25,
        'written_bytes 2500, remaining_bytes 7500, progress_pct 25',
        JSON.stringify({
          written: at1?.written_bytes,
          remaining: at1?.remaining_bytes,
          pct: at1?.progress_pct,
        }),
      );
      await client.abort();
      await step('begin without expected_size', () => client.begin({}));
      const open = sessionOf(await step('status of a session without a size', () => client.status()));
      check(
        open?.expected_size === null && open.remaining_bytes === null && open.progress_pct === null,
        'expected_size, remaining_bytes and progress_pct null without expected_size',
        JSON.stringify(open),
      );
      await client.abort();
    });
  },
);
