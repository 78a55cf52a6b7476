import { createHash } from 'node:crypto';
import { beforeEach } from 'vitest';
import { HomieOta, type MqttHarness, md5Hex } from '../../drivers/mqtt/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { currentTarget, type RequirementContext, RigFailure, requirement } from '../framework/index.ts';
import {
  appImage,
  consoleMark,
  deviceSession,
  newerVersion,
  onlyForDialect,
  REFERENCE,
  resetsSince,
  updateTimeoutMs,
} from './support.ts';

const SOURCE = `${REFERENCE} §3.3 (homie-esp8266 src/Homie/Boot/BootNormal.cpp __handleOTAUpdates 887–1060, _publishOtaStatus 220–229)`;

onlyForDialect('homie');

/**
 * The target this file was loaded for (one module instance per target): taken while the file is
 * collected, because the beforeEach below runs outside the target's context.
 */
const loadedFor = currentTarget();

/** `$implementation/ota/enabled` as the device announces it, read once per file. */
let announcedEnabled: Promise<string | undefined> | undefined;
function otaEnabledAnnounced(): Promise<string | undefined> {
  announcedEnabled ??= (async () => {
    const description = loadedFor;
    const { MqttHarness } = await import('../../drivers/mqtt/index.ts');
    if (!description?.mqtt?.brokerUrl || !description.mqtt.topic) return undefined;
    const mqtt = await MqttHarness.connect({
      brokerUrl: description.mqtt.brokerUrl,
      targetName: description.name,
    });
    try {
      const homie = new HomieOta(mqtt, description.mqtt.topic, baseTopicOf(description.options));
      await homie.expectAttribute('$state', (value) => value === 'ready', { since: 0, timeoutMs: 15_000 });
      return await homie.attribute('$implementation/ota/enabled');
    } finally {
      await mqtt.close();
    }
  })();
  return announcedEnabled;
}

function baseTopicOf(options: Record<string, unknown> | undefined): string {
  return typeof options?.baseTopic === 'string' ? options.baseTopic : 'homie/';
}

function homieFor(target: Target, mqtt: MqttHarness): HomieOta {
  const deviceId = target.description.mqtt?.topic;
  if (!deviceId) throw new RigFailure(`target ${target.name}: the rig gives no Homie device id (mqtt.topic)`);
  return new HomieOta(mqtt, deviceId, baseTopicOf(target.description.options));
}

async function ready(target: Target, homie: HomieOta, since: number): Promise<void> {
  await homie.expectAttribute('$state', (value) => value === 'ready', {
    since,
    timeoutMs: updateTimeoutMs(target),
    step: 'wait for $state ready',
  });
}

/** Session drops since a mark: the last will (`$state` lost), a re-announce, or a reset on the console. */
function sessionDrops(
  target: Target,
  mqtt: MqttHarness,
  homie: HomieOta,
  since: number,
  consoleFrom: number,
) {
  const states = mqtt
    .messages(`${homie.deviceTopic}/$state`, since)
    .filter((message) => !message.retain && message.text !== 'ready')
    .map((message) => `$state ${message.text}`);
  return [...states, ...resetsSince(target, consoleFrom)];
}

/** Runs a requirement body once the device is ready, on a fresh harness session. */
const withHomie = deviceSession('homie', {
  attach: homieFor,
  upStep: 'the device is ready',
  up: (target, mqtt, homie) => ready(target, homie, mqtt.mark()),
});

/** Sends a new image and checks 202 … 200, then the new $fw/checksum and $fw/version. */
async function flashNewImage(context: RequirementContext, encoding: 'raw' | 'base64'): Promise<void> {
  const { target, step, check, meta } = context;
  await withHomie(context, async ({ homie }) => {
    const running = (await step('read $fw/version', () => homie.fwVersion())) ?? '0.0.0';
    const next = newerVersion(running);
    const image = appImage(target, { version: next, tag: `${meta.id} ${encoding}` });
    const since = await step(`send the image ${encoding} to …/ota/firmware/<md5>`, () =>
      homie.sendFirmware(image, { encoding }),
    );
    const first = await step('the first status', () => homie.expectStatus(() => true, { since }));
    check(first.code === 202, '202 (accepted, flashing starts)', first.text);
    const final = await step('the final status', () =>
      homie.expectStatus((status) => status.code !== 202 && status.code !== 206, {
        since,
        timeoutMs: updateTimeoutMs(target),
      }),
    );
    check(final.code === 200, '200 (flashed and verified)', final.text);
    const checksum = await step('$fw/checksum after the reboot', () =>
      homie.expectAttribute('$fw/checksum', (value) => value === md5Hex(image), {
        since,
        timeoutMs: updateTimeoutMs(target),
      }),
    );
    check(checksum === md5Hex(image), `$fw/checksum ${md5Hex(image)}`, checksum);
    await step('the device is ready again', () => ready(target, homie, since));
    const version = await step('read $fw/version', () => homie.fwVersion());
    check(version === next, `$fw/version ${next}`, version ?? 'none');
  });
}

/** Requirements that need `$implementation/ota/enabled` = false; every other one needs true. */
const NEEDS_OTA_DISABLED = new Set(['mqtt-trigger/homie/6']);

beforeEach(async ({ task, skip }) => {
  const id = task.meta.requirement?.id ?? '';
  const enabled = await otaEnabledAnnounced();
  if (NEEDS_OTA_DISABLED.has(id) && enabled !== 'false') {
    skip(
      `the device announces $implementation/ota/enabled = ${enabled ?? 'nothing'}; the 403 path needs false`,
    );
  } else if (!NEEDS_OTA_DISABLED.has(id) && enabled === 'false') {
    skip('the device announces $implementation/ota/enabled = false');
  }
});

requirement(
  'mqtt-trigger/homie/1',
  'MUST',
  'a raw image on $implementation/ota/firmware/<md5> is answered 202 then 200, and the device comes back with that $fw/checksum and $fw/version',
  { source: SOURCE },
  (context) => flashNewImage(context, 'raw'),
);

requirement(
  'mqtt-trigger/homie/2',
  'MUST',
  'a Base64 image on $implementation/ota/firmware/<md5> is flashed the same way (202, 200, new $fw/checksum)',
  { source: `${SOURCE}: "either raw binary (first byte 0xE9) or Base64"` },
  (context) => flashNewImage(context, 'base64'),
);

requirement(
  'mqtt-trigger/homie/3',
  'MUST',
  'an image whose MD5 equals $fw/checksum is answered 304 and not flashed',
  { source: `${SOURCE}: "304 — the MD5 equals the running firmware's MD5; aborted"` },
  (context) =>
    withHomie(context, async ({ target, step, check, mqtt, homie }) => {
      const running = await step('read $fw/checksum', () => homie.fwChecksum());
      if (!running) throw new Error('the device publishes no $fw/checksum');
      const consoleFrom = consoleMark(target);
      // The payload is an image; only the topic MD5 says it is the running one.
      const image = appImage(target, { version: 'same-checksum', tag: 'homie/3' });
      const since = await step('send an image under the running MD5', () =>
        homie.sendFirmware(image, { md5: running }),
      );
      const answer = await step('the status', () => homie.expectStatus(() => true, { since }));
      check(answer.code === 304, '304 (same firmware, aborted)', answer.text);
      const after = await step('read $fw/checksum', () => homie.fwChecksum());
      check(after === running, `$fw/checksum still ${running}`, after ?? 'none');
      const drops = sessionDrops(target, mqtt, homie, since, consoleFrom);
      check(drops.length === 0, 'no reboot after the 304', drops.join('; '));
      check(
        homie.statuses(since).every((status) => status.code === 304),
        'no status but 304',
        homie
          .statuses(since)
          .map((status) => status.text)
          .join(', '),
      );
    }),
);

requirement(
  'mqtt-trigger/homie/4',
  'MUST',
  'an image that does not match the MD5 in its topic ends in 400 BAD_CHECKSUM and the old firmware keeps running',
  { source: `${SOURCE}: "202 — accepted (Update.setMD5(md5)…)", "400 BAD_CHECKSUM (MD5 mismatch at end)"` },
  (context) =>
    withHomie(context, async ({ target, step, check, meta, mqtt, homie }) => {
      const running = await step('read $fw/checksum', () => homie.fwChecksum());
      const version = (await homie.fwVersion()) ?? '0.0.0';
      const image = appImage(target, { version: newerVersion(version), tag: meta.id });
      const wrongMd5 = createHash('md5').update(image).update('other bytes').digest('hex');
      const consoleFrom = consoleMark(target);
      const since = await step('send an image under another MD5', () =>
        homie.sendFirmware(image, { md5: wrongMd5 }),
      );
      const final = await step('the final status', () =>
        homie.expectStatus((status) => status.code !== 202 && status.code !== 206, {
          since,
          timeoutMs: updateTimeoutMs(target),
        }),
      );
      check(final.code === 400 && final.info === 'BAD_CHECKSUM', '400 BAD_CHECKSUM', final.text);
      const after = await step('read $fw/checksum', () => homie.fwChecksum());
      check(after === running, `$fw/checksum still ${running}`, after ?? 'none');
      const drops = sessionDrops(target, mqtt, homie, since, consoleFrom);
      check(drops.length === 0, 'no reboot after the rejected image', drops.join('; '));
    }),
);

requirement(
  'mqtt-trigger/homie/5',
  'MUST',
  'malformed firmware messages (a topic MD5 that is not 32 hex digits, a body neither image nor Base64) are answered 400 without dropping the MQTT session',
  {
    source: `${SOURCE}: "400 BAD_CHECKSUM — topic MD5 not valid hex-32", "400 BAD_FIRMWARE (… also used for base64 format errors)"`,
  },
  (context) =>
    withHomie(context, async ({ target, step, check, mqtt, homie }) => {
      const consoleFrom = consoleMark(target);
      const first = mqtt.mark();
      const image = appImage(target, { version: 'malformed', tag: 'homie/5' });
      let since = await step('a firmware topic with "not-an-md5"', () =>
        homie.sendFirmware(image, { md5: 'not-an-md5' }),
      );
      const badTopic = await step('the status', () => homie.expectStatus(() => true, { since }));
      check(badTopic.code === 400 && badTopic.info === 'BAD_CHECKSUM', '400 BAD_CHECKSUM', badTopic.text);
      const garbage = Buffer.from('this is *not* Base64 or an image!', 'latin1');
      since = await step('a body that is neither an image nor Base64', () =>
        homie.sendFirmware(garbage, { md5: md5Hex(garbage) }),
      );
      const badBody = await step('the status', () => homie.expectStatus(() => true, { since }));
      check(badBody.code === 400 && badBody.info === 'BAD_FIRMWARE', '400 BAD_FIRMWARE', badBody.text);
      const drops = sessionDrops(target, mqtt, homie, first, consoleFrom);
      check(drops.length === 0, 'the device stays connected (no $state change, no reset)', drops.join('; '));
    }),
);

requirement(
  'mqtt-trigger/homie/6',
  'MUST',
  'with $implementation/ota/enabled false, a firmware message is answered 403 and nothing is flashed',
  { source: `${SOURCE}: "403 — OTA disabled (checked at index 0)"` },
  (context) =>
    withHomie(context, async ({ target, step, check, homie }) => {
      const running = await step('read $fw/checksum', () => homie.fwChecksum());
      const image = appImage(target, { version: '99.0.0', tag: 'homie/6' });
      const since = await step('send a new image', () => homie.sendFirmware(image));
      const answer = await step('the status', () => homie.expectStatus(() => true, { since }));
      check(answer.code === 403, '403 (OTA disabled)', answer.text);
      const after = await step('read $fw/checksum', () => homie.fwChecksum());
      check(after === running, `$fw/checksum still ${running}`, after ?? 'none');
    }),
);
