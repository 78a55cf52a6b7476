import { UpdateError } from '../../esp8266-updater/index.ts';
import { DeviceMqtt } from './device-mqtt.ts';
import { DEFECTS, type DialectBoot, type DialectEnvironment } from './dialect.ts';
import { MqttTriggerConfigError } from './errors.ts';

const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;
const MD5_HEX = /^[0-9a-fA-F]{32}$/;
/** `206 <written>/<total>` goes out once every this many received chunks. */
const PROGRESS_EVERY_CHUNKS = 100;

/**
 * Homie for ESP8266 (reference/viperhttp-luartos-mqtt.md §3.3): the whole image arrives as one
 * MQTT message on `<base><id>/$implementation/ota/firmware/<md5>`, raw or Base64, and the device
 * answers on the retained `$implementation/ota/status` with 403/400/304/202/206/200/500.
 */
export function startHomie(env: DialectEnvironment): DialectBoot {
  const { context, options } = env;
  const services = context.esp8266;
  if (!services)
    throw new MqttTriggerConfigError('the homie dialect is Homie for ESP8266 and needs an ESP8266');
  const base = `${options.baseTopic}${options.deviceId}/`;
  const statusTopic = `${base}$implementation/ota/status`;
  let flashing = false;

  const mqtt = new DeviceMqtt(context, options, {
    clientId: options.deviceId,
    will: context.defects.has(DEFECTS.noLastWill)
      ? undefined
      : { topic: `${base}$state`, payload: 'lost', qos: 1, retain: true },
    onConnect: async () => {
      const retained = { qos: 1 as const, retain: true };
      const announce: [string, string][] = [
        ['$state', 'init'],
        ['$homie', '3.0.1'],
        ['$name', context.name],
        ['$localip', context.host],
        ['$mac', '5C:CF:7F:A4:3B:21'],
        ['$fw/name', context.running.projectName],
        ['$fw/version', context.running.version],
        ['$fw/checksum', context.running.md5],
        ['$implementation', 'esp8266'],
        ['$implementation/version', '3.0.0'],
        ['$implementation/ota/enabled', options.otaEnabled ? 'true' : 'false'],
        ['$nodes', ''],
      ];
      for (const [topic, value] of announce) void mqtt.publish(`${base}${topic}`, value, retained);
      await mqtt.subscribe([`${base}$implementation/ota/firmware/+`], 1);
      void mqtt.publish(`${base}$state`, 'ready', retained);
      context.console.line('✔ MQTT ready');
    },
    onMessage: (topic, payload) => {
      const levels = topic.slice(options.baseTopic.length).split('/');
      if (levels.length !== 5 || levels[1] !== '$implementation' || levels[3] !== 'firmware') return;
      void handleFirmware(levels[4] ?? '', payload);
    },
  });
  context.console.line(`💡 Firmware ${context.running.projectName} (${context.running.version})`);
  // A test sketch prints the build it is (`Serial.println("Built " __DATE__ " " __TIME__)`).
  if (context.running.built) context.console.line(`Built ${context.running.built}`);

  function status(text: string): Promise<void> {
    context.console.line(`OTA status: ${text}`);
    return mqtt.publish(statusTopic, text, { qos: 0, retain: true });
  }

  async function malformed(reason: string, reply: string): Promise<void> {
    if (context.defects.has(DEFECTS.crashesOnMalformedTrigger)) {
      env.crash(reason);
      return;
    }
    context.console.line(`✖ ${reason}`);
    await status(reply);
  }

  async function handleFirmware(md5: string, payload: Buffer): Promise<void> {
    context.console.line('Receiving OTA payload');
    if (!options.otaEnabled && !context.defects.has(DEFECTS.ignoresOtaDisabled)) {
      context.console.line('✖ Aborting, OTA not enabled');
      await status('403');
      return;
    }
    if (!MD5_HEX.test(md5)) {
      await malformed('Invalid MD5 in the firmware topic', '400 BAD_CHECKSUM');
      return;
    }
    if (md5.toLowerCase() === context.running.md5 && !context.defects.has(DEFECTS.flashesOnHomie304)) {
      context.console.line('✖ Aborting, firmware is the same');
      await status('304');
      return;
    }
    let image: Buffer;
    if (payload[0] === 0xe9) {
      image = payload;
    } else {
      const text = payload.toString('latin1');
      if (text.length === 0 || text.length % 4 !== 0 || !BASE64_BODY.test(text)) {
        await malformed('Payload is neither an image nor Base64', '400 BAD_FIRMWARE');
        return;
      }
      image = Buffer.from(text, 'base64');
    }
    if (flashing) return;
    flashing = true;
    try {
      await flash(md5, image);
    } finally {
      flashing = false;
    }
  }

  async function flash(md5: string, image: Buffer): Promise<void> {
    const updater = services!.createUpdater();
    if (!updater.begin(image.length)) {
      await status(homieError(updater.getError()));
      return;
    }
    // Update.setMD5(topic md5) makes Update.end() check the image against the topic.
    if (!context.defects.has(DEFECTS.homieAcceptsBadChecksum)) updater.setMD5(md5.toLowerCase());
    await status('202');
    const chunkBytes = options.homieChunkBytes;
    let chunks = 0;
    for (let offset = 0; offset < image.length; offset += chunkBytes) {
      if (context.signal.aborted) return;
      const chunk = image.subarray(offset, offset + chunkBytes);
      if (updater.write(chunk) !== chunk.length) {
        await status(homieError(updater.getError()));
        return;
      }
      await context.pace();
      chunks++;
      if (chunks % PROGRESS_EVERY_CHUNKS === 0) {
        await status(`206 ${offset + chunk.length}/${image.length}`);
      }
    }
    if (!updater.end()) {
      context.console.line(`✖ ${updater.getErrorString()}`);
      await status(homieError(updater.getError()));
      return;
    }
    await status('200');
    context.console.line('✔ OTA succeeded, rebooting when idle');
    env.later(options.restartDelayMs, () => {
      env.beforeUpdateRestart();
      context.restart();
    });
  }

  return { stop: () => mqtt.closeAbruptly() };
}

/** BootNormal's mapping of Update errors onto the status codes. */
function homieError(code: number): string {
  switch (code) {
    case UpdateError.MD5:
      return '400 BAD_CHECKSUM';
    case UpdateError.SPACE:
      return '400 NOT_ENOUGH_SPACE';
    case UpdateError.SIZE:
    case UpdateError.MAGIC_BYTE:
    case UpdateError.FLASH_CONFIG:
    case UpdateError.NEW_FLASH_CONFIG:
      return '400 BAD_FIRMWARE';
    case UpdateError.WRITE:
    case UpdateError.ERASE:
    case UpdateError.READ:
      return '500 FLASH_ERROR';
    default:
      return `500 INTERNAL_ERROR ${code}`;
  }
}
