import { createHash } from 'node:crypto';
import { type ButtonsState, ButtonsTrigger, type MqttHarness } from '../../drivers/mqtt/index.ts';
import { acquireTargetLease, type Target } from '../../drivers/target/index.ts';
import { type RequirementContext, requirement } from '../framework/index.ts';
import {
  appImage,
  consoleMark,
  firmware,
  onlyForDialect,
  REFERENCE,
  resetsSince,
  type UpdateServerHandle,
  updateTimeoutMs,
  withMqtt,
  withUpdateServer,
} from './support.ts';

const SOURCE = `${REFERENCE} §3.1.a (drdubel/domator uc/buttonsMeshIDF @cff2b00: src/node_root.c ~140–240, src/health_ota.c 23–73, PHASE5_6_GUIDE.md 158–165)`;
const STATUS_REPORT_INTERVAL_MS = 15_000;

onlyForDialect('buttons-json');

function statusIntervalMs(target: Target): number {
  const value = target.description.options?.statusIntervalMs;
  return typeof value === 'number' && value > 0 ? value : STATUS_REPORT_INTERVAL_MS;
}

/** The next status report (periodic, or the one after a connect) with its firmware hash. */
async function status(
  target: Target,
  buttons: ButtonsTrigger,
  since: number,
  extraMs = 0,
): Promise<ButtonsState> {
  return await buttons.expectState((state) => typeof state.firmware === 'string', {
    since,
    timeoutMs: statusIntervalMs(target) + updateTimeoutMs(target) + extraMs,
    step: 'wait for a status report on /switch/state/root',
  });
}

/** The second status report after `since`: by then a restart caused by what came before has shown. */
async function settledStatus(
  target: Target,
  mqtt: MqttHarness,
  buttons: ButtonsTrigger,
  since: number,
): Promise<ButtonsState> {
  await status(target, buttons, since);
  return await status(target, buttons, mqtt.mark());
}

/**
 * The JSON trigger has no address: every historical root on the broker hears it on
 * /switch/cmd/root (§3.1.a, "Broadcasts to all mesh nodes"). While one requirement talks there,
 * roots of other targets on the same broker must stay quiet, or each would update the others'
 * devices in the middle of their checks; a lease per broker keeps one requirement at a time.
 */
async function aloneOnRootTopic(
  context: RequirementContext,
  body: (context: RequirementContext) => Promise<void>,
): Promise<void> {
  const { target, step } = context;
  const lease = await step("take the broker's /switch/cmd/root (other roots there hear every trigger)", () =>
    acquireTargetLease(
      target.description.lockDir,
      `mqtt ${target.description.mqtt?.brokerUrl ?? target.name} /switch/cmd/root`,
    ),
  );
  try {
    await body(context);
  } finally {
    await lease.release();
  }
}

/**
 * A status report once the device is steady: two reports in a row from one boot with one
 * firmware, so an update another requirement's trigger started has landed before this one looks.
 */
async function steadyStatus(
  target: Target,
  buttons: ButtonsTrigger,
  mqtt: MqttHarness,
): Promise<ButtonsState> {
  let previous = await status(target, buttons, mqtt.mark());
  for (let attempt = 0; attempt < 10; attempt++) {
    const next = await status(target, buttons, mqtt.mark());
    if (next.firmware === previous.firmware && (next.uptime ?? 0) >= (previous.uptime ?? 0)) return next;
    previous = next;
  }
  return previous;
}

/** Waiting for the broker lease is part of a requirement's time. */
const TIMEOUT_MS = 300_000;

function newElf(target: Target, tag: string, current: ButtonsState): Uint8Array {
  return createHash('sha256')
    .update(`${target.name} ${tag} ${String(current.firmware)}`)
    .digest();
}

interface NewImage extends UpdateServerHandle {
  mqtt: MqttHarness;
  buttons: ButtonsTrigger;
  /** The steady status before anything was sent. */
  before: ButtonsState;
  /** The firmware hash the device reports once it runs the served image. */
  expected: string;
}

/**
 * Alone on the root topic, with the device steady: an image whose ELF hash differs from the
 * running one, served at /ota.bin for `body`.
 */
function aloneWithNewImage(
  context: RequirementContext,
  body: (context: RequirementContext & NewImage) => Promise<void>,
): Promise<void> {
  return aloneOnRootTopic(context, async (context) => {
    const { target, step, meta } = context;
    await withMqtt(target, async (mqtt) => {
      const buttons = new ButtonsTrigger(mqtt, { deviceId: target.description.mqtt?.topic });
      const before = await step('the current status', () => steadyStatus(target, buttons, mqtt));
      const elf = newElf(target, meta.id, before);
      const expected = Buffer.from(elf.subarray(0, 16)).toString('hex');
      const image = appImage(target, { version: 'buttons-json', tag: meta.id, appElfSha256: elf });
      await withUpdateServer(target, { '/ota.bin': firmware(image) }, ({ server, url }) =>
        body({ ...context, mqtt, buttons, before, expected, server, url }),
      );
    });
  });
}

/**
 * Checks that nothing changed: two status reports (the step `name`, from `since()`) still show
 * the firmware from before, and the console shows no reset since `consoleFrom` (else Expected `noReset`).
 */
async function expectUnchanged(
  { target, step, check, mqtt, buttons, before }: RequirementContext & NewImage,
  name: string,
  since: () => number,
  consoleFrom: number,
  noReset: string,
): Promise<void> {
  const report = await step(name, () => settledStatus(target, mqtt, buttons, since()));
  check(report.firmware === before.firmware, `still firmware ${before.firmware}`, String(report.firmware));
  const resets = resetsSince(target, consoleFrom);
  check(resets.length === 0, noReset, resets.join('; '));
}

async function updateAndConfirm(
  target: Target,
  mqtt: MqttHarness,
  buttons: ButtonsTrigger,
  url: string,
  expectedFirmware: string,
  step: <T>(name: string, body: () => T | Promise<T>) => Promise<T>,
): Promise<ButtonsState> {
  const since = mqtt.mark();
  await step(`{"type":"ota_trigger","url":"${url}"}`, () => buttons.triggerJson(url));
  return await step('a status report with the new firmware hash', () =>
    buttons.expectState((state) => state.firmware === expectedFirmware, {
      since,
      timeoutMs: statusIntervalMs(target) + updateTimeoutMs(target),
    }),
  );
}

requirement(
  'mqtt-trigger/buttons-json/1',
  'MUST',
  'a {"type":"ota_trigger","url":…} on /switch/cmd/root makes the device download that URL and then report the new firmware hash on /switch/state/root',
  { source: SOURCE, timeoutMs: TIMEOUT_MS },
  (context) =>
    aloneWithNewImage(context, async ({ target, step, check, mqtt, buttons, expected, server, url }) => {
      const after = await updateAndConfirm(target, mqtt, buttons, url('/ota.bin'), expected, step);
      check(
        server.requests().some((request) => request.path === '/ota.bin'),
        'a GET of the trigger URL',
        server
          .requests()
          .map((request) => request.requestLine)
          .join('; ') || 'no request',
      );
      check(after.firmware === expected, `"firmware":"${expected}"`, String(after.firmware));
    }),
);

requirement(
  'mqtt-trigger/buttons-json/2',
  'MUST',
  'malformed ota_trigger messages (broken JSON, no type, no or a non-string url) are ignored without a reset, and a valid one still updates',
  {
    source: `${SOURCE}: "type must be a string equal to ota_trigger, and url a string"`,
    needs: ['console'],
    timeoutMs: TIMEOUT_MS,
  },
  (context) =>
    aloneWithNewImage(context, async (prepared) => {
      const { target, step, check, mqtt, buttons, expected, server, url } = prepared;
      const since = mqtt.mark();
      const consoleFrom = consoleMark(target);
      for (const payload of [
        `{"type":"ota_trigger","url":"${url('/ota.bin')}"`,
        `{"url":"${url('/ota.bin')}"}`,
        '{"type":"ota_trigger"}',
        '{"type":"ota_trigger","url":5}',
      ]) {
        await step(`publish ${payload}`, () => buttons.raw('/switch/cmd/root', payload));
      }
      await expectUnchanged(
        prepared,
        'two status reports later',
        () => since,
        consoleFrom,
        'no reset on the console',
      );
      check(server.requests().length === 0, 'no download', `${server.requests().length} request(s)`);
      // Positive control: a well-formed trigger right after is acted on.
      await updateAndConfirm(target, mqtt, buttons, url('/ota.bin'), expected, step);
    }),
);

requirement(
  'mqtt-trigger/buttons-json/3',
  'MUST',
  'a failed download (404) leaves the device running its firmware without a restart, and a following valid trigger updates it',
  {
    source: `${SOURCE}: "failure → log and clear g_ota_in_progress"`,
    needs: ['console'],
    timeoutMs: TIMEOUT_MS,
  },
  (context) =>
    aloneWithNewImage(context, async (prepared) => {
      const { target, step, mqtt, buttons, expected, server, url } = prepared;
      const consoleFrom = consoleMark(target);
      await step('trigger a URL that answers 404', () => buttons.triggerJson(url('/missing.bin')));
      await step('the device asks for it and gets 404', () =>
        server.waitForRequest((candidate) => candidate.path === '/missing.bin', {
          until: 'ended',
          timeoutMs: updateTimeoutMs(target),
        }),
      );
      // Two reports bound the wait: the first may have left before the device handled the 404.
      await expectUnchanged(
        prepared,
        'two status reports after the failure',
        () => mqtt.mark(),
        consoleFrom,
        'no restart after the failed download',
      );
      await updateAndConfirm(target, mqtt, buttons, url('/ota.bin'), expected, step);
    }),
);
