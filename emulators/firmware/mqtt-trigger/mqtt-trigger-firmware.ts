import type { FirmwareContext, FirmwareModule } from '../../device/index.ts';
import { TWO_OTA_CSV } from '../../device/index.ts';
import { startButtons } from './buttons-dialect.ts';
import { DEFECTS, type DialectBoot, type DialectEnvironment } from './dialect.ts';
import { startHomie } from './homie-dialect.ts';
import { DEFAULT_OPTIONS, readOptions } from './options.ts';
import { startTasmota } from './tasmota-dialect.ts';

const REFERENCE = 'reference/viperhttp-luartos-mqtt.md';

/**
 * Devices told over MQTT to update (DESIGN.md `mqtt-trigger`), one dialect per option:
 * `buttons-json` (the seed's JSON `ota_trigger`), `buttons-u` (buttonsMeshIDF HEAD), `tasmota`,
 * `homie`. The device is an MQTT client of the broker named by `brokerUrl`.
 */
export const mqttTriggerFirmware: FirmwareModule = {
  profile: 'mqtt-trigger',
  platforms: ['esp32', 'esp8266'],
  defaultOptions: DEFAULT_OPTIONS,
  deviceDefaults: {
    // buttonsMeshIDF's partitions.csv: two OTA slots, no factory app.
    esp32: { partitionCsv: TWO_OTA_CSV },
  },
  defects: [
    {
      name: DEFECTS.flashesOnHomie304,
      breaks: [`${REFERENCE} §3.3: "304 — the MD5 equals the running firmware's MD5; aborted"`],
      description: 'Homie: flashes an image whose MD5 equals the running sketch instead of answering 304.',
    },
    {
      name: DEFECTS.homieAcceptsBadChecksum,
      breaks: [
        `${REFERENCE} §3.3: "202 — accepted (Update.setMD5(md5) so the image MD5 is verified at the end)", "400 BAD_CHECKSUM (MD5 mismatch at end)"`,
      ],
      description:
        'Homie: never gives the topic MD5 to the Updater, so an image that does not match it is installed (200).',
    },
    {
      name: DEFECTS.crashesOnMalformedTrigger,
      breaks: [
        `${REFERENCE} §3.1.b: the dispatcher ignores payloads it does not know`,
        `${REFERENCE} §3.2: a bad Upgrade argument is answered with "1 or >%s to upgrade"`,
        `${REFERENCE} §3.3: a bad topic MD5 is "400 BAD_CHECKSUM", a bad Base64 body "400 BAD_FIRMWARE"`,
      ],
      description: 'Panics and resets on a malformed trigger, dropping its MQTT session (last will fires).',
    },
    {
      name: DEFECTS.tasmotaUpgradesToOlder,
      breaks: [
        `${REFERENCE} §3.2: "Upgrade <version> (≥3 chars) starts it only if <version> is newer than the running one"`,
      ],
      description:
        'Tasmota: `Upgrade <version>` downloads whatever version is given, older or equal included.',
    },
    {
      name: DEFECTS.restartsAfterFailedDownload,
      breaks: [
        `${REFERENCE} §3.1.a: "failure → log and clear g_ota_in_progress"`,
        `${REFERENCE} §3.2: "Failed <ESPhttpUpdate.getLastErrorString()>" on stat/<topic>/UPGRADE, the device keeps running`,
      ],
      description: 'buttons-json and Tasmota: resets after a failed download instead of staying up.',
    },
    {
      name: DEFECTS.noLastWill,
      breaks: [
        `${REFERENCE} §3.1.b: "LWT topic /switch/state/root, payload {\\"status\\":\\"disconnected\\",…,\\"reason\\":\\"ungraceful\\"}, QoS 1, retain"`,
      ],
      description:
        'Connects without a last will: an abrupt power loss leaves the retained status saying connected.',
    },
  ],
  async start(context: FirmwareContext) {
    const options = readOptions(context);
    const bootStartedAt = Date.now();
    const timers = new Set<NodeJS.Timeout>();
    const environment: DialectEnvironment = {
      context,
      options,
      uptimeSeconds: () => Math.floor((Date.now() - bootStartedAt) / 1000),
      crash: (reason) => {
        if (context.platform === 'esp32') {
          context.console.line(
            "Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.",
          );
        } else {
          context.console.line('');
          context.console.line('Exception (28):');
          context.console.line(
            'epc1=0x40212c3d epc2=0x00000000 epc3=0x00000000 excvaddr=0x00000000 depc=0x00000000',
          );
        }
        context.console.line(`(${reason})`);
        context.restart();
      },
      later: (ms, action) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!context.signal.aborted) action();
        }, ms);
        timers.add(timer);
      },
    };
    let boot: DialectBoot;
    switch (options.dialect) {
      case 'buttons-json':
      case 'buttons-u':
        boot = startButtons(environment, options.dialect);
        break;
      case 'tasmota':
        boot = startTasmota(environment);
        break;
      case 'homie':
        boot = startHomie(environment);
        break;
    }
    return {
      stop: async () => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        boot.stop();
      },
    };
  },
};
