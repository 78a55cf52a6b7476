import {
  ButtonsTrigger,
  HomieOta,
  isBrokerFailure,
  MqttHarness,
  TasmotaTrigger,
} from '../../../drivers/mqtt/index.ts';
import type { Target } from '../../../drivers/target/index.ts';
import { RigFailure } from '../rig-failure.ts';
import type { BootWatch } from './boot-watch.ts';
import { StrategyUnsupportedError } from './errors.ts';
import { type Dialect, dialectOf } from './mqtt-dialect.ts';
import { rebootTimeoutMs } from './observe.ts';
import { pullDelivery } from './pull-delivery.ts';
import type { Delivered } from './push-delivery.ts';

/** buttonsMeshIDF reports its state every STATUS_REPORT_INTERVAL_MS (health_ota.c; the suites cite it). */
const BUTTONS_STATUS_INTERVAL_MS = 15_000;
/** How long one `Status 2` waits for Tasmota's answer before asking again while it boots. */
const TASMOTA_POLL_MS = 1_000;

/**
 * mqtt-trigger: the device is told over MQTT, in its dialect, to update (reference/
 * viperhttp-luartos-mqtt.md §3). buttons-json (`ota_trigger` with our URL), buttons-u (`U`: the
 * compile-time CONFIG_OTA_URL, which the rig points at our update server) and Tasmota (`OtaUrl`
 * then `Upgrade 1`) then pull the image like the other pull profiles; Homie receives it in one
 * MQTT message. Each waits first for the device's own sign that it is up, so a trigger is never
 * sent to a chip that is still booting.
 */
export async function mqttDelivery(
  target: Target,
  image: Uint8Array,
  options: { cut: boolean; watch: BootWatch | undefined; dark?: Promise<unknown> },
): Promise<Delivered> {
  const dialect = dialectOf(target.description);
  if (dialect === undefined)
    throw new StrategyUnsupportedError(
      `target ${target.name}: the rig names no MQTT dialect the strategy speaks (mqtt.dialect or options.dialect: buttons-mesh, buttons-json, buttons-u, tasmota, homie)`,
    );
  return await withMqttHarness(target, async (mqtt) => {
    if (dialect === 'homie') return await homieDelivery(target, mqtt, image, options);
    const trigger = await triggerWhenUp(target, mqtt, dialect);
    return await pullDelivery(target, image, { ...options, trigger });
  });
}

/** Runs `body` with a fresh harness client; a broker that fails is the rig's fault, not the device's. */
export async function withMqttHarness<T>(
  target: Target,
  body: (mqtt: MqttHarness) => Promise<T>,
): Promise<T> {
  const settings = target.description.mqtt;
  if (!settings?.brokerUrl)
    throw new RigFailure(
      `target ${target.name}: the rig gives no MQTT broker (mqtt.brokerUrl or mqtt.embedded)`,
    );
  const asRigFailure = (error: unknown) =>
    isBrokerFailure(error) ? new RigFailure((error as Error).message, { cause: error }) : error;
  let mqtt: MqttHarness;
  try {
    mqtt = await MqttHarness.connect({
      brokerUrl: settings.brokerUrl,
      targetName: target.name,
      username: settings.username,
      password: settings.password,
      timeouts: { connectMs: target.stepTimeoutMs, stepMs: target.stepTimeoutMs },
      transcript: target.transcript,
      redact: (text) => target.redactor.redact(text),
    });
  } catch (error) {
    throw asRigFailure(error);
  }
  try {
    return await body(mqtt);
  } catch (error) {
    throw asRigFailure(error);
  } finally {
    await mqtt.close();
  }
}

function topicOf(target: Target): string {
  const topic = target.description.mqtt?.topic;
  if (!topic) throw new RigFailure(`target ${target.name}: the rig gives no device id or topic (mqtt.topic)`);
  return topic;
}

function numberOption(target: Target, name: string, fallback: number): number {
  const value = target.description.options?.[name];
  return typeof value === 'number' && value > 0 ? value : fallback;
}

/** Waits until the device is up in its dialect, then returns how to send it the trigger. */
async function triggerWhenUp(
  target: Target,
  mqtt: MqttHarness,
  dialect: Exclude<Dialect, 'homie'>,
): Promise<(url: string) => Promise<void>> {
  const deviceId = topicOf(target);
  if (dialect === 'tasmota') {
    const tasmota = new TasmotaTrigger(mqtt, deviceId);
    await tasmotaUp(target, tasmota);
    return async (url) => {
      await tasmota.setOtaUrl(url, { timeoutMs: target.stepTimeoutMs });
      await tasmota.upgrade('1', { timeoutMs: target.stepTimeoutMs });
    };
  }
  const buttons = new ButtonsTrigger(mqtt, { deviceId });
  // A live `connected` (it just booted) or one of its periodic reports: a retained state may be
  // left from before a power cut (buttons-json has no last will).
  await buttons.expectState(
    (state) => state.status === 'connected' || (state.status === undefined && state.uptime !== undefined),
    {
      since: mqtt.mark(),
      live: true,
      timeoutMs:
        rebootTimeoutMs(target) + numberOption(target, 'statusIntervalMs', BUTTONS_STATUS_INTERVAL_MS),
      step: 'wait for the device: a live connected state or a status report',
    },
  );
  if (dialect === 'buttons-json') return (url) => buttons.triggerJson(url);
  const type = target.description.options?.deviceType === 'relay' ? 'relay' : 'switch';
  // HEAD downloads its compile-time CONFIG_OTA_URL, which names our update server (any path is served).
  return () => buttons.triggerU(type, deviceId);
}

/** Tasmota answers `Status 2` once its MQTT session is up; it is asked again until then. */
async function tasmotaUp(target: Target, tasmota: TasmotaTrigger): Promise<void> {
  const deadline = performance.now() + rebootTimeoutMs(target);
  for (;;) {
    try {
      await tasmota.runningVersion({ timeoutMs: TASMOTA_POLL_MS });
      return;
    } catch (error) {
      if (performance.now() >= deadline) throw error;
    }
  }
}

/**
 * Homie: the image in one message on `$implementation/ota/firmware/<md5>` once `$state` is
 * `ready`; the device answers 200 on `$implementation/ota/status` before it restarts, or an error
 * code. With a cut armed the device goes dark while it writes: its last will (`$state` lost) ends
 * the wait.
 */
async function homieDelivery(
  target: Target,
  mqtt: MqttHarness,
  image: Uint8Array,
  options: { cut: boolean },
): Promise<Delivered> {
  const base = target.description.options?.baseTopic;
  const homie = new HomieOta(mqtt, topicOf(target), typeof base === 'string' ? base : 'homie/');
  await homie.expectAttribute('$state', (value) => value === 'ready', {
    since: mqtt.mark(),
    timeoutMs: rebootTimeoutMs(target),
    step: 'wait for $state ready',
  });
  const since = await homie.sendFirmware(image);
  const final = (code: number) => code !== 202 && code !== 206;
  // Whichever comes first; the other wait ends with the session (its failure is not the answer).
  const status = homie
    .expectStatus((candidate) => final(candidate.code), {
      since,
      timeoutMs: rebootTimeoutMs(target),
      step: 'wait for the final OTA status',
    })
    .then((answer) => ({ status: answer }));
  const lost = mqtt
    .expectMessage(`${homie.deviceTopic}/$state`, (message) => message.text === 'lost', {
      since,
      live: true,
      timeoutMs: rebootTimeoutMs(target),
      step: 'wait for $state lost',
    })
    .then(() => ({ status: undefined }));
  status.catch(() => {});
  lost.catch(() => {});
  const ended = await Promise.any([status, lost]).catch((error: unknown) => {
    if (options.cut) return { status: undefined };
    throw (error as AggregateError).errors?.[0] ?? error;
  });
  // The final status and the last will can arrive in one read (the device restarts right after it
  // answers 200); then the status the device sent first is the answer, not $state lost.
  const answer = ended.status ?? homie.statuses(since).find((candidate) => final(candidate.code));
  if (answer === undefined)
    return {
      accepted: false,
      detail: `the device went away while taking ${image.length} bytes ($state lost)`,
    };
  return {
    accepted: answer.code === 200,
    detail: `$implementation/ota/status ${answer.text}`,
  };
}
