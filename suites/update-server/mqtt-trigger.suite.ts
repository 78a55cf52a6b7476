import { readFileSync } from 'node:fs';
import { copyFile, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUTTONS_ROOT_COMMAND_TOPIC, MqttHarness, type MqttMessage } from '../../drivers/mqtt/index.ts';
import { espHttpClientRequest, sendPullRequest } from '../../drivers/pull-client/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { type RequirementContext, RigFailure } from '../framework/index.ts';
import { type Dialect, dialectOf } from '../framework/strategy/mqtt-dialect.ts';
import { md5, pinnedCertificate, published, serverRequirement, sha256 } from './server-kit.ts';

/*
 * A rollout server that announces new builds over MQTT (seeds/ota-firmware-hosting-guide.md:
 * build → upload → trigger; docs/protocols/viperhttp-luartos-mqtt.md §3). The harness drops a build
 * where the server picks builds up (the rig's `options.dropFolder`), listens on the broker as the
 * devices do, and judges the trigger: topic, payload and retain flag per dialect, and that what it
 * names is the new build. The build is the rig's `options.buildFile`: devices on that broker may
 * flash it, so it must be one they boot.
 */
const requirement = serverRequirement('mqtt-trigger');
const MQTT = 'docs/protocols/viperhttp-luartos-mqtt.md';
/** The root copies the URL into a mesh message of MESH_MSG_DATA_SIZE (200) bytes, NUL included (§3.1.a). */
const MAX_BUTTONS_URL_BYTES = 199;

interface Drop {
  build: Buffer;
  /** The trigger's messages, in arrival order. */
  messages: MqttMessage[];
}

function dialect(target: Target): Dialect {
  const found = dialectOf(target.description);
  if (!found)
    throw new RigFailure(
      `target ${target.name}: options.dialect must name buttons-json, buttons-u, tasmota or homie`,
    );
  return found;
}

/** Where a device of the dialect listens. */
function filterOf(target: Target): string {
  const topic = target.description.options?.topic;
  const device = typeof topic === 'string' && topic !== '' ? topic : '+';
  switch (dialect(target)) {
    case 'buttons-json':
    case 'buttons-u':
      return '/+/cmd/#';
    case 'tasmota':
      return `cmnd/${device}/#`;
    case 'homie':
      return `homie/${device}/$implementation/ota/firmware/+`;
  }
}

async function connectBroker(target: Target): Promise<MqttHarness> {
  const { username, password } = target.description;
  return await MqttHarness.connect({
    brokerUrl: published(target, 'brokerUrl'),
    targetName: target.name,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    transcript: target.transcript,
    redact: (text) => target.redactor.redact(text),
  });
}

/**
 * Copies the build into the drop folder under a fresh name (`options.dropName`, `{stamp}` made
 * unique), as a CI upload does (written aside, then renamed), and waits for the trigger; the
 * file is removed again before this returns.
 */
async function dropBuild(
  target: Target,
  harness: MqttHarness,
  { step }: Pick<RequirementContext, 'step'>,
  beforeDrop?: () => Promise<void>,
): Promise<Drop> {
  const buildFile = published(target, 'buildFile');
  const folder = published(target, 'dropFolder');
  const name = published(target, 'dropName', basename(buildFile)).replace('{stamp}', String(Date.now()));
  const timeoutMs = Number(target.description.options?.triggerTimeoutMs ?? 10_000);
  const filter = filterOf(target);
  await harness.subscribe(filter);
  await beforeDrop?.();
  const since = harness.mark();
  const file = join(folder, name);
  try {
    await step(`drop the build as ${file}`, async () => {
      await copyFile(buildFile, `${file}.part`);
      await rename(`${file}.part`, file);
    });
    const first = await step(`wait for the trigger on ${filter}`, () =>
      harness.expectMessage(filter, undefined, { since, timeoutMs, live: true }),
    );
    if (dialect(target) === 'tasmota') {
      await step('wait for Upgrade', () =>
        harness.expectMessage(filter, (m) => /\/upgrade$/i.test(m.topic), { since, timeoutMs, live: true }),
      );
    }
    await sleep(200);
    return {
      build: readFileSync(buildFile),
      messages: harness
        .messages(filter, since)
        .filter((message) => !message.retain)
        .concat(first)
        .filter(unique),
    };
  } finally {
    await rm(file, { force: true });
    await rm(`${file}.part`, { force: true });
  }
}

function unique(message: MqttMessage, index: number, all: MqttMessage[]): boolean {
  return all.findIndex((other) => other.index === message.index) === index;
}

function describeMessages(messages: readonly MqttMessage[]): string {
  return (
    messages
      .map(
        (m) =>
          `${m.topic} ${m.payload.length > 120 ? `<${m.payload.length} bytes>` : JSON.stringify(m.text)}`,
      )
      .join('; ') || 'nothing'
  );
}

/** The URL a trigger names (buttons-u: the device's fixed OTA_URL, from the rig). */
function namedUrl(target: Target, drop: Drop): string | undefined {
  switch (dialect(target)) {
    case 'buttons-json': {
      try {
        const url = (JSON.parse(drop.messages[0]?.text ?? '') as { url?: unknown }).url;
        return typeof url === 'string' ? url : undefined;
      } catch {
        return undefined;
      }
    }
    case 'buttons-u':
      return published(target, 'otaUrl');
    case 'tasmota':
      return drop.messages.find((m) => /\/otaurl$/i.test(m.topic))?.text;
    case 'homie':
      return undefined;
  }
}

/** Is the trigger the dialect's, exactly? undefined when it is, else what is wrong. */
function triggerProblem(target: Target, drop: Drop): string | undefined {
  const [first] = drop.messages;
  if (!first) return 'no trigger';
  switch (dialect(target)) {
    case 'buttons-json': {
      if (first.topic !== BUTTONS_ROOT_COMMAND_TOPIC)
        return `topic ${first.topic}, not ${BUTTONS_ROOT_COMMAND_TOPIC}`;
      const url = namedUrl(target, drop);
      let type: unknown;
      try {
        type = (JSON.parse(first.text) as { type?: unknown }).type;
      } catch {}
      if (type !== 'ota_trigger' || url === undefined)
        return `payload ${first.text}, not {"type":"ota_trigger","url":…}`;
      if (Buffer.byteLength(url) > MAX_BUTTONS_URL_BYTES)
        return `a ${Buffer.byteLength(url)}-byte url; the root keeps ${MAX_BUTTONS_URL_BYTES}`;
      return undefined;
    }
    case 'buttons-u':
      if (!/^\/(switch|relay)\/cmd(\/\d+)?$/.test(first.topic))
        return `topic ${first.topic}, not /switch|relay/cmd[/<id>] (U on /switch/cmd/root does nothing at HEAD)`;
      return first.text === 'U' ? undefined : `payload ${JSON.stringify(first.text)}, not "U"`;
    case 'tasmota': {
      const otaUrl = drop.messages.findIndex((m) => /\/otaurl$/i.test(m.topic));
      const upgrade = drop.messages.findIndex((m) => /\/upgrade$/i.test(m.topic));
      if (otaUrl === -1 || upgrade === -1 || otaUrl > upgrade) return 'OtaUrl <url>, then Upgrade';
      const argument = drop.messages[upgrade]!.text.trim();
      return argument === '1' || argument.length >= 3
        ? undefined
        : `Upgrade ${argument}: 1 or a version (≥ 3 characters)`;
    }
    case 'homie': {
      const digest = first.topic.split('/').at(-1) ?? '';
      const image = homieImage(first.payload);
      return /^[0-9a-f]{32}$/.test(digest) && md5(image) === digest
        ? undefined
        : `topic MD5 ${digest}, image MD5 ${md5(image)}`;
    }
  }
}

/** Homie takes the image raw (0xE9) or Base64 (§3.3). */
function homieImage(payload: Buffer): Buffer {
  return payload[0] === 0xe9 ? payload : Buffer.from(payload.toString('latin1'), 'base64');
}

requirement(
  'update-server/mqtt-trigger/1',
  'MUST',
  "publishes nothing while no build appears, and after a new build the dialect's trigger: its topic and payload exactly",
  {
    source: `seeds/ota-firmware-hosting-guide.md § Triggering OTA Update; ${MQTT} §3.1.a (JSON on /switch/cmd/root, url ≤ 199 bytes), §3.1.b (U on /<type>/cmd[/<id>]), §3.2 (OtaUrl, Upgrade), §3.3 (image on …/ota/firmware/<md5>)`,
  },
  async ({ target, step, check }) => {
    const harness = await connectBroker(target);
    try {
      const quietMs = Number(target.description.options?.quietMs ?? 1_000);
      let unasked: MqttMessage[] = [];
      const drop = await dropBuild(target, harness, { step }, async () => {
        const since = harness.mark();
        await step(`listen ${quietMs} ms with no new build`, () => sleep(quietMs));
        unasked = harness.messages(filterOf(target), since).filter((m) => !m.retain);
      });
      check(unasked.length === 0, 'no trigger without a new build', describeMessages(unasked));
      const problem = triggerProblem(target, drop);
      check(
        problem === undefined,
        `the ${dialect(target)} trigger`,
        `${problem}: ${describeMessages(drop.messages)}`,
      );
    } finally {
      await harness.close();
    }
  },
);

requirement(
  'update-server/mqtt-trigger/2',
  'MUST',
  'publishes the trigger without the retain flag, so the broker keeps no command to replay',
  {
    source: `${MQTT} §3.1.b (the root subscribes to its command topics on every connect: a retained trigger restarts the update after every reboot); MQTT 3.1.1 §3.3.1.3`,
  },
  async ({ target, step, check }) => {
    const harness = await connectBroker(target);
    try {
      const drop = await dropBuild(target, harness, { step });
      const kept: MqttMessage[] = [];
      for (const topic of new Set(drop.messages.map((m) => m.topic))) {
        const retained = await step(`what the broker keeps on ${topic}`, () => harness.retained(topic));
        if (retained && retained.payload.length > 0) {
          kept.push(retained);
          await harness.clearRetained(topic);
        }
      }
      check(drop.messages.length > 0, 'a trigger', 'none');
      check(kept.length === 0, 'nothing retained on the trigger topics', describeMessages(kept));
    } finally {
      await harness.close();
    }
  },
);

requirement(
  'update-server/mqtt-trigger/3',
  'MUST',
  'what the trigger names serves the new build: the URL (or, for Homie, the message) carries exactly its bytes',
  {
    source: `seeds/ota-firmware-hosting-guide.md § Version Everything ("Name firmware with version"); ${MQTT} §3.1 (esp_https_ota fetches the url), §3.2, §3.3`,
  },
  async ({ target, step, check }) => {
    const harness = await connectBroker(target);
    try {
      const drop = await dropBuild(target, harness, { step });
      const want = sha256(drop.build);
      if (dialect(target) === 'homie') {
        const image = drop.messages[0] ? homieImage(drop.messages[0].payload) : Buffer.alloc(0);
        check(
          sha256(image) === want,
          `the build (SHA-256 ${want})`,
          `${image.length} bytes, SHA-256 ${sha256(image)}`,
        );
        return;
      }
      const named = namedUrl(target, drop);
      check(named !== undefined, 'a URL in the trigger', describeMessages(drop.messages));
      const url = new URL(named!);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const answer = await step(`GET ${url.href}`, () =>
        sendPullRequest(url.href, espHttpClientRequest({ url }), {
          tls: {
            ...(isIP(host) ? {} : { servername: host }),
            ...(target.description.tls?.caFile ? { ca: pinnedCertificate(target) } : {}),
          },
          timeoutMs: target.stepTimeoutMs * 4,
        }),
      );
      check(
        answer.status === 200 && sha256(answer.body) === want,
        `200 with the build (SHA-256 ${want})`,
        `${answer.statusLine}, ${answer.body.length} bytes, SHA-256 ${sha256(answer.body)}`,
      );
    } finally {
      await harness.close();
    }
  },
);
