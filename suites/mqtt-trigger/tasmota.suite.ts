import { type MqttHarness, TasmotaTrigger } from '../../drivers/mqtt/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { type RequirementContext, RigFailure, requirement } from '../framework/index.ts';
import {
  appImage,
  consoleMark,
  deviceSession,
  firmware,
  newerVersion,
  olderVersion,
  onlyForDialect,
  REFERENCE,
  resetsSince,
  type UpdateServerHandle,
  updateTimeoutMs,
  withUpdateServer,
} from './support.ts';

const SOURCE = `${REFERENCE} §3.2 (Tasmota support_command.ino CmndOtaUrl/CmndUpgrade, support_tasmota.ino)`;

onlyForDialect('tasmota');

function tasmotaFor(target: Target, mqtt: MqttHarness): TasmotaTrigger {
  const topic = target.description.mqtt?.topic;
  if (!topic) throw new RigFailure(`target ${target.name}: the rig gives no Tasmota topic (mqtt.topic)`);
  return new TasmotaTrigger(mqtt, topic);
}

/** Waits until the device says Online (it may still be restarting from the previous requirement). */
async function online(target: Target, mqtt: MqttHarness, tasmota: TasmotaTrigger, since = mqtt.mark()) {
  await mqtt.expectMessage(tasmota.lwtTopic, (message) => message.text === 'Online', {
    since,
    timeoutMs: updateTimeoutMs(target),
    step: `wait for ${tasmota.lwtTopic} Online`,
  });
}

/** LWT messages and console resets since a mark: any of them means the device dropped its session. */
function sessionDrops(
  target: Target,
  mqtt: MqttHarness,
  tasmota: TasmotaTrigger,
  since: number,
  consoleFrom: number,
) {
  const lwt = mqtt.messages(tasmota.lwtTopic, since).filter((message) => !message.retain);
  return [
    ...lwt.map((message) => `${tasmota.lwtTopic} ${message.text}`),
    ...resetsSince(target, consoleFrom),
  ];
}

/** Runs a requirement body once the device is online, on a fresh harness session. */
const withTasmota = deviceSession('tasmota', {
  attach: tasmotaFor,
  upStep: 'the device is online',
  up: online,
});

interface NewerImage extends UpdateServerHandle {
  mqtt: MqttHarness;
  tasmota: TasmotaTrigger;
  /** The version Status 2 reported before anything was sent. */
  running: string;
  /** The newer version the served image carries. */
  next: string;
}

/** Once the device is online: an image of a version newer than the running one, served at /tasmota.bin. */
async function withNewerImage(
  context: RequirementContext,
  body: (context: RequirementContext & NewerImage) => Promise<void>,
): Promise<void> {
  const { target, step, meta } = context;
  await withTasmota(context, async ({ mqtt, tasmota }) => {
    const running = await step('Status 2: the running version', () => tasmota.runningVersion());
    const next = newerVersion(running);
    const image = appImage(target, { version: next, tag: meta.id });
    await withUpdateServer(target, { '/tasmota.bin': firmware(image) }, (handle) =>
      body({ ...context, ...handle, mqtt, tasmota, running, next }),
    );
  });
}

requirement(
  'mqtt-trigger/tasmota/1',
  'MUST',
  'OtaUrl <url> is echoed; Upgrade 1 downloads that URL, reports "Successful. Restarting" on stat/<topic>/UPGRADE and the new version runs after the restart',
  { source: SOURCE },
  (context) =>
    withNewerImage(context, async ({ target, step, check, mqtt, tasmota, next, server, url }) => {
      const otaUrl = url('/tasmota.bin');
      const echoed = await step(`OtaUrl ${otaUrl}`, () => tasmota.setOtaUrl(otaUrl));
      check(echoed === otaUrl, `{"OtaUrl":"${otaUrl}"} on ${tasmota.resultTopic}`, `{"OtaUrl":"${echoed}"}`);
      const { reply, since } = await step('Upgrade 1', () => tasmota.upgrade('1'));
      check(
        reply.startsWith('Version ') && reply.endsWith(` from ${otaUrl}`),
        `{"Upgrade":"Version <current> from ${otaUrl}"}`,
        `{"Upgrade":"${reply}"}`,
      );
      await step('the device downloads the OtaUrl', () =>
        server.waitForRequest((request) => request.path === '/tasmota.bin', {
          timeoutMs: updateTimeoutMs(target),
          step: 'download after Upgrade 1',
        }),
      );
      const outcome = await step(`the outcome on ${tasmota.upgradeTopic}`, () =>
        tasmota.expectUpgradeOutcome({ since, timeoutMs: updateTimeoutMs(target) }),
      );
      check(
        outcome === 'Successful. Restarting',
        '{"Upgrade":"Successful. Restarting"}',
        `{"Upgrade":"${outcome}"}`,
      );
      await step('the device comes back online', () => online(target, mqtt, tasmota, since));
      const after = await step('Status 2 after the restart', () => tasmota.runningVersion());
      check(after === next, `version ${next} runs after the restart`, `version ${after}`);
    }),
);

requirement(
  'mqtt-trigger/tasmota/2',
  'MUST',
  'Upgrade <version> not newer than the running one is refused with "1 or ><current> to upgrade" and downloads nothing; Upgrade <newer> downloads',
  {
    source: `${SOURCE}: "Upgrade <version> (≥3 chars) starts it only if <version> is newer than the running one"`,
  },
  (context) =>
    withNewerImage(context, async ({ target, step, check, mqtt, tasmota, running, next, server, url }) => {
      await step('OtaUrl', () => tasmota.setOtaUrl(url('/tasmota.bin')));
      const notNewer = [olderVersion(running), running].filter((version): version is string => !!version);
      for (const version of notNewer) {
        const { reply } = await step(`Upgrade ${version} (running ${running})`, () =>
          tasmota.upgrade(version),
        );
        check(
          reply.startsWith('1 or >') && reply.endsWith(' to upgrade'),
          `{"Upgrade":"1 or >${running} to upgrade"} for Upgrade ${version}`,
          `{"Upgrade":"${reply}"}`,
        );
      }
      // Positive control: the same command with a newer version is accepted and downloads.
      const { reply, since: upgradeSince } = await step(`Upgrade ${next}`, () => tasmota.upgrade(next));
      check(reply.startsWith('Version '), `{"Upgrade":"Version … from …"} for Upgrade ${next}`, reply);
      const first = await step('the download of the newer version', () =>
        server.waitForRequest(() => true, {
          timeoutMs: updateTimeoutMs(target),
          step: `download after Upgrade ${next}`,
        }),
      );
      check(
        server.requests().length === 1 && first.path === '/tasmota.bin',
        'exactly one download, for the newer version',
        `${server.requests().length} request(s)`,
      );
      await step('the device comes back online', () => online(target, mqtt, tasmota, upgradeSince));
      const after = await step('Status 2 after the restart', () => tasmota.runningVersion());
      check(after === next, `version ${next} runs`, `version ${after}`);
    }),
);

requirement(
  'mqtt-trigger/tasmota/3',
  'MUST',
  'a failed download is reported as "Failed …" on stat/<topic>/UPGRADE and the device keeps running the old version without a restart',
  { source: `${SOURCE}: "{"Upgrade":"Failed <ESPhttpUpdate.getLastErrorString()>"}"` },
  (context) =>
    withTasmota(context, async ({ target, step, check, mqtt, tasmota }) => {
      const running = await step('Status 2: the running version', () => tasmota.runningVersion());
      await withUpdateServer(target, { '/tasmota.bin': { status: 404 } }, async ({ server, url }) => {
        await step('OtaUrl to a missing file', () => tasmota.setOtaUrl(url('/tasmota.bin')));
        const consoleFrom = consoleMark(target);
        const { since } = await step('Upgrade 1', () => tasmota.upgrade('1'));
        await step('the device asks for the file', () =>
          server.waitForRequest((request) => request.path === '/tasmota.bin', {
            timeoutMs: updateTimeoutMs(target),
          }),
        );
        const outcome = await step(`the outcome on ${tasmota.upgradeTopic}`, () =>
          tasmota.expectUpgradeOutcome({ since, timeoutMs: updateTimeoutMs(target) }),
        );
        check(outcome.startsWith('Failed'), '{"Upgrade":"Failed <reason>"}', `{"Upgrade":"${outcome}"}`);
        // The reply to Status 2 bounds the wait: a restart would have shown before it.
        const after = await step('Status 2 after the failure', () => tasmota.runningVersion());
        check(after === running, `still version ${running}`, `version ${after}`);
        const drops = sessionDrops(target, mqtt, tasmota, since, consoleFrom);
        check(drops.length === 0, 'no restart and no LWT change after the failed download', drops.join('; '));
      });
    }),
);

requirement(
  'mqtt-trigger/tasmota/4',
  'MUST',
  'malformed commands (Upgrade with no or a one-character argument, an unknown command) are answered on stat/<topic>/RESULT without a restart; valid commands still work',
  { source: `${SOURCE}: a bad Upgrade argument is answered "1 or >%s to upgrade"` },
  (context) =>
    withTasmota(context, async ({ target, step, check, mqtt, tasmota }) => {
      const since = mqtt.mark();
      const consoleFrom = consoleMark(target);
      for (const argument of ['', 'x']) {
        const { reply } = await step(`Upgrade "${argument}"`, () => tasmota.upgrade(argument));
        check(
          reply.startsWith('1 or >'),
          `{"Upgrade":"1 or >… to upgrade"} for Upgrade "${argument}"`,
          reply,
        );
      }
      const unknownSince = await step('an unknown command', () =>
        tasmota.command('OtaTriggerNoSuchCommand', '1'),
      );
      const unknown = await step('the reply to the unknown command', () =>
        tasmota.expectResult('Command', { since: unknownSince }),
      );
      check(unknown === 'Unknown', '{"Command":"Unknown"}', `{"Command":"${unknown}"}`);
      // Positive control: the device still acts on valid commands on the same session.
      const version = await step('Status 2', () => tasmota.runningVersion());
      check(version.length > 0, 'a version in StatusFWR', version);
      const drops = sessionDrops(target, mqtt, tasmota, since, consoleFrom);
      check(drops.length === 0, 'no restart and no LWT change', drops.join('; '));
    }),
);

requirement(
  'mqtt-trigger/tasmota/5',
  'SHOULD',
  'announces retained tele/<topic>/LWT Online, and the broker publishes its last will Offline when the power is cut',
  {
    source: `${REFERENCE} §3.2 (LWT Online after a reboot: standard Tasmota, UNCONFIRMED in the reference)`,
    needs: ['power-cycle'],
  },
  (context) =>
    withTasmota(context, async ({ target, step, check, mqtt, tasmota }) => {
      const retained = await step('read the retained LWT', () => mqtt.retained(tasmota.lwtTopic));
      check(
        retained?.text === 'Online',
        `retained ${tasmota.lwtTopic} Online`,
        retained?.text ?? 'nothing retained',
      );
      const since = mqtt.mark();
      try {
        await step('cut the power', () => target.power!.off());
        const will = await step('the last will', () =>
          mqtt
            .expectMessage(tasmota.lwtTopic, (message) => message.text === 'Offline', {
              since,
              timeoutMs: updateTimeoutMs(target),
            })
            .then((message) => message.text)
            .catch(() => 'no Offline'),
        );
        check(will === 'Offline', `${tasmota.lwtTopic} Offline published by the broker`, will);
      } finally {
        await step('power on', () => target.power!.on());
      }
      await step('the device comes back online', () => online(target, mqtt, tasmota, since));
    }),
);
