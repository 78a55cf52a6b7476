import { firmware } from '../../drivers/update-server/index.ts';
import { type RequirementContext, requirement } from '../framework/index.ts';
import { watchConsole, withPullSession } from '../http-update/pull-kit.ts';
import { espImage, installEsp, resetDevice } from './esp-https-ota-kit.ts';

const SOURCE = 'docs/protocols/esp-idf.md §3.5 rollback state machine; §6.3 native_ota_example diagnostics';

async function resetAndReadVersion(context: RequirementContext, after: string) {
  const booted = watchConsole(
    context.target,
    /App version:\s+(\S+)/,
    `boot after the reset (${after})`,
    15_000,
  );
  await context.step(`reset the chip (${after})`, () => resetDevice(context.target));
  const line = await booted.catch((error: Error) => error.message);
  return /App version:\s+(\S+)/.exec(line)?.[1] ?? line;
}

requirement(
  'esp-https-ota/rollback/1',
  'MUST',
  'a new image that is not marked valid is rolled back to the previous one at the next reset',
  { source: SOURCE, needs: ['console', 'rollback', 'reset'] },
  async (context) => {
    await withPullSession(context.target, firmware(new Uint8Array(0)), async (session) => {
      const known = espImage(context.target);
      await installEsp(context, session, known);
      const unconfirmed = espImage(context.target);
      await installEsp(context, session, unconfirmed, { confirm: false });
      session.answer(firmware(known.bytes));
      const version = await resetAndReadVersion(context, 'new image not confirmed');
      context.check(
        version === known.version,
        `the bootloader rolls back to ${known.version}`,
        `App version: ${version}`,
      );
    });
  },
);

requirement(
  'esp-https-ota/rollback/2',
  'MUST',
  'a new image marked valid stays after a reset',
  { source: SOURCE, needs: ['console', 'rollback', 'reset'] },
  async (context) => {
    await withPullSession(context.target, firmware(new Uint8Array(0)), async (session) => {
      const confirmed = espImage(context.target);
      await installEsp(context, session, confirmed);
      session.answer(firmware(confirmed.bytes));
      const version = await resetAndReadVersion(context, 'new image confirmed');
      context.check(
        version === confirmed.version,
        `${confirmed.version} still boots`,
        `App version: ${version}`,
      );
    });
  },
);

requirement(
  'esp-https-ota/update/1',
  'MUST',
  'three updates in a row each boot the image just downloaded (otadata rewritten correctly every time)',
  {
    source:
      'docs/protocols/esp-idf.md §3.2–3.4 (otadata sectors, esp_rewrite_ota_data), §6.1 test_…_example (3 iterations)',
    needs: ['console'],
  },
  async (context) => {
    await withPullSession(context.target, firmware(new Uint8Array(0)), async (session) => {
      for (let round = 0; round < 3; round++) await installEsp(context, session, espImage(context.target));
    });
  },
);
