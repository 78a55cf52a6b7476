import { type ButtonsState, ButtonsTrigger, type MqttHarness } from '../../drivers/mqtt/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { type RequirementContext, RigFailure, requirement } from '../framework/index.ts';
import {
  appImage,
  buildClock,
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

const SOURCE = `${REFERENCE} §3.1.b (drdubel/domator uc/buttonsMeshIDF @7653c9b: node_root.c 686–735, 1211–1386, 1483–1574; health_ota.c 152–340)`;
const OTA_COUNTDOWN_MS = 5000;
const STATUS_REPORT_INTERVAL_MS = 15_000;

onlyForDialect('buttons-u');

interface Device {
  id: string;
  type: 'switch' | 'relay';
  /** Path of the compile-time CONFIG_OTA_URL on our update server. */
  path: string;
  countdownMs: number;
  statusIntervalMs: number;
}

function deviceOf(target: Target): Device {
  const options = target.description.options ?? {};
  const id =
    target.description.mqtt?.topic ?? (typeof options.deviceId === 'string' ? options.deviceId : undefined);
  if (!id) throw new RigFailure(`target ${target.name}: the rig gives no device id (mqtt.topic)`);
  if (typeof options.otaUrl !== 'string') {
    throw new RigFailure(
      `target ${target.name}: the rig gives no options.otaUrl (the device's CONFIG_OTA_URL)`,
    );
  }
  return {
    id,
    type: options.deviceType === 'relay' ? 'relay' : 'switch',
    path: new URL(options.otaUrl).pathname,
    countdownMs: typeof options.otaCountdownMs === 'number' ? options.otaCountdownMs : OTA_COUNTDOWN_MS,
    statusIntervalMs:
      typeof options.statusIntervalMs === 'number' && options.statusIntervalMs > 0
        ? options.statusIntervalMs
        : STATUS_REPORT_INTERVAL_MS,
  };
}

/**
 * Proof the device is up before a requirement starts: its retained `connected` state, or one of
 * its periodic status reports. Several roots on one broker share the single retained slot of
 * /switch/state/root, so the retained copy may be another root's; the report is always ours.
 */
async function up(target: Target, buttons: ButtonsTrigger, mqtt: MqttHarness, device: Device) {
  return await buttons.expectState(
    (state) =>
      (state.status === 'connected' || (state.status === undefined && state.uptime !== undefined)) &&
      String(state.deviceId) === device.id,
    {
      since: mqtt.mark(),
      timeoutMs: updateTimeoutMs(target, device.countdownMs + device.statusIntervalMs),
      step: 'wait for the connected state or a status report',
    },
  );
}

/** The `connected` state this device publishes when it (re)connects, waiting through a restart. */
async function connected(
  target: Target,
  buttons: ButtonsTrigger,
  mqtt: MqttHarness,
  device: Device,
  since = mqtt.mark(),
) {
  return await buttons.expectState(
    (state) => state.status === 'connected' && String(state.deviceId) === device.id,
    {
      since,
      // Published after `since`: the broker's replay of the retained state from before can reach
      // the harness after the trigger (a status report can show the device up first).
      live: true,
      timeoutMs: updateTimeoutMs(target, device.countdownMs),
      step: 'wait for the connected state the device publishes (retained)',
    },
  );
}

/**
 * State messages that show the session went away: a disconnect, the last will or a reconnect. The
 * retained state the broker replays when the harness subscribes is from before (its "connected"
 * can arrive after the status report that showed the device up), as homie.suite.ts and
 * tasmota.suite.ts leave out retained replays too.
 */
function sessionDrops(target: Target, buttons: ButtonsTrigger, since: number, consoleFrom: number): string[] {
  const states = buttons
    .states(since)
    .filter((state) => state.status !== undefined && state.retained !== true)
    .map((state) => JSON.stringify(state.raw));
  return [...states, ...resetsSince(target, consoleFrom)];
}

function newBuild(current: ButtonsState): { unix: number; date: string; time: string } {
  const base =
    typeof current.firmware === 'number' ? current.firmware : Math.floor(Date.UTC(2026, 0, 1) / 1000);
  const unix = base + 3600;
  return { unix, ...buildClock(unix) };
}

interface NewBuild extends UpdateServerHandle {
  device: Device;
  mqtt: MqttHarness;
  buttons: ButtonsTrigger;
  /** The state that showed the device up. */
  before: ButtonsState;
  /** The build time the served image carries, which the device reports as its firmware. */
  build: { unix: number; date: string; time: string };
}

/** With the device up: an image built an hour after the running one, served at its CONFIG_OTA_URL. */
async function withNewBuild(
  context: RequirementContext,
  body: (context: RequirementContext & NewBuild) => Promise<void>,
): Promise<void> {
  const { target, step, meta } = context;
  const device = deviceOf(target);
  await withMqtt(target, async (mqtt) => {
    const buttons = new ButtonsTrigger(mqtt, { deviceId: device.id });
    const before = await step('the device is connected', () => up(target, buttons, mqtt, device));
    const build = newBuild(before);
    const image = appImage(target, {
      version: 'buttons-u',
      tag: meta.id,
      date: build.date,
      time: build.time,
    });
    await withUpdateServer(target, { [device.path]: firmware(image) }, (handle) =>
      body({ ...context, ...handle, device, mqtt, buttons, before, build }),
    );
  });
}

requirement(
  'mqtt-trigger/buttons-u/1',
  'MUST',
  'U on /<type>/cmd/<id> makes the root publish retained disconnected, download its CONFIG_OTA_URL and come back with retained connected and the new firmware build time',
  { source: SOURCE, timeoutMs: 60_000 },
  (context) =>
    withNewBuild(context, async ({ target, step, check, device, mqtt, buttons, build, server }) => {
      const since = mqtt.mark();
      await step(`U on /${device.type}/cmd/${device.id}`, () => buttons.triggerU(device.type, device.id));
      const leaving = await step('the graceful disconnected state', () =>
        buttons.expectState((state) => state.status === 'disconnected', {
          since,
          live: true,
          timeoutMs: updateTimeoutMs(target, device.countdownMs),
        }),
      );
      check(
        leaving.reason === undefined,
        '{"status":"disconnected",…} without "reason" (node_root_stop, not the last will)',
        JSON.stringify(leaving.raw),
      );
      await step('the download of CONFIG_OTA_URL', () =>
        server.waitForRequest((request) => request.path === device.path, {
          timeoutMs: updateTimeoutMs(target),
        }),
      );
      const back = await step('connected with the new firmware', () =>
        connected(target, buttons, mqtt, device, since),
      );
      check(
        back.firmware === build.unix,
        `"firmware":${build.unix} (the new build time)`,
        `"firmware":${JSON.stringify(back.firmware)}`,
      );
    }),
);

requirement(
  'mqtt-trigger/buttons-u/2',
  'MUST',
  'payloads other than U on its command topics are ignored without a reset or a dropped session, and a following U still updates',
  { source: `${SOURCE}: the dispatcher acts only on "U" (and "P" on the root topic)`, timeoutMs: 60_000 },
  (context) =>
    withNewBuild(context, async ({ target, step, check, device, mqtt, buttons, before, build, server }) => {
      const since = mqtt.mark();
      const consoleFrom = consoleMark(target);
      const topic = `/${device.type}/cmd/${device.id}`;
      for (const payload of ['X', 'UU', 'u', '{"type":"ota_trigger"}']) {
        await step(`${JSON.stringify(payload)} on ${topic}`, () => buttons.raw(topic, payload));
      }
      await step('a non-U payload on /switch/cmd/root', () => buttons.raw('/switch/cmd/root', 'Z'));
      // The next periodic status report bounds the wait: a reset would have shown before it.
      const report = await step('the next periodic status report', () =>
        buttons.expectState((state) => state.status === undefined && state.uptime !== undefined, {
          since,
          timeoutMs: device.statusIntervalMs + target.stepTimeoutMs,
        }),
      );
      check(
        report.firmware === before.firmware,
        `still firmware ${before.firmware}`,
        String(report.firmware),
      );
      const drops = sessionDrops(target, buttons, since, consoleFrom);
      check(drops.length === 0, 'no disconnect, last will, reconnect or reset', drops.join('; '));
      check(server.requests().length === 0, 'no download', `${server.requests().length} request(s)`);
      // Positive control: U on the same topic still starts the update.
      const uSince = mqtt.mark();
      await step(`U on ${topic}`, () => buttons.triggerU(device.type, device.id));
      await step('the download', () =>
        server.waitForRequest((request) => request.path === device.path, {
          timeoutMs: updateTimeoutMs(target, device.countdownMs),
        }),
      );
      const back = await step('connected with the new firmware', () =>
        connected(target, buttons, mqtt, device, uSince),
      );
      check(back.firmware === build.unix, `"firmware":${build.unix}`, String(back.firmware));
    }),
);

requirement(
  'mqtt-trigger/buttons-u/3',
  'MUST',
  'connects with a last will: when the power is cut the broker publishes {"status":"disconnected",…,"reason":"ungraceful"} on /switch/state/root, and the device announces connected again after power-on',
  {
    source: `${SOURCE}: "LWT topic /switch/state/root, payload {…,"reason":"ungraceful"}, QoS 1, retain"`,
    needs: ['power-cycle'],
  },
  async ({ target, step, check }) => {
    const device = deviceOf(target);
    await withMqtt(target, async (mqtt) => {
      const buttons = new ButtonsTrigger(mqtt, { deviceId: device.id });
      await step('the device is connected', () => up(target, buttons, mqtt, device));
      const since = mqtt.mark();
      let will: ButtonsState | undefined;
      try {
        await step('cut the power', () => target.power!.off());
        will = await step('the last will', () =>
          buttons
            .expectState((state) => state.status === 'disconnected', {
              since,
              live: true,
              timeoutMs: updateTimeoutMs(target),
            })
            .catch(() => undefined),
        );
      } finally {
        await step('power on', () => target.power!.on());
      }
      check(
        will?.reason === 'ungraceful' && String(will.deviceId) === device.id,
        `{"status":"disconnected","device_id":${device.id},…,"reason":"ungraceful"}`,
        will ? JSON.stringify(will.raw) : 'no disconnected state after the power cut',
      );
      const retained = await step('the retained state after the will', () =>
        mqtt.retained('/switch/state/root'),
      );
      check(retained !== undefined, 'a retained state', 'nothing retained');
      const back = await step('connected after power-on', () =>
        connected(target, buttons, mqtt, device, since),
      );
      check(back.status === 'connected', 'connected', JSON.stringify(back.raw));
    });
  },
);
