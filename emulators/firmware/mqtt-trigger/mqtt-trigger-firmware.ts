import type { FirmwareContext, FirmwareModule } from '../../device/index.ts';
import { TWO_OTA_CSV } from '../../device/index.ts';
import { startButtons } from './buttons-dialect.ts';
import { DEFECTS, type DialectBoot, type DialectEnvironment } from './dialect.ts';
import { startHomie } from './homie-dialect.ts';
import { DEFAULT_OPTIONS, readOptions, restartDelayOption } from './options.ts';
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
  restartDelayMs: restartDelayOption,
  deviceDefaults: {
    // buttonsMeshIDF's partitions.csv: two OTA slots, no factory app.
    esp32: { partitionCsv: TWO_OTA_CSV },
  },
  defects: [
    {
      name: DEFECTS.flashesOnHomie304,
      breaks: [
        'mqtt-trigger/homie/3',
        `${REFERENCE} §3.3: "304 — the MD5 equals the running firmware's MD5; aborted"`,
      ],
      description: 'Homie: flashes an image whose MD5 equals the running sketch instead of answering 304.',
    },
    {
      name: DEFECTS.homieAcceptsBadChecksum,
      breaks: [
        'mqtt-trigger/homie/4',
        `${REFERENCE} §3.3: "202 — accepted (Update.setMD5(md5) so the image MD5 is verified at the end)", "400 BAD_CHECKSUM (MD5 mismatch at end)"`,
      ],
      description:
        'Homie: never gives the topic MD5 to the Updater, so an image that does not match it is installed (200).',
    },
    {
      name: DEFECTS.crashesOnMalformedTrigger,
      breaks: [
        'mqtt-trigger/buttons-json/2',
        'mqtt-trigger/buttons-u/2',
        'mqtt-trigger/tasmota/2',
        'mqtt-trigger/tasmota/4',
        'mqtt-trigger/homie/5',
        `${REFERENCE} §3.1.a: "type must be a string equal to "ota_trigger", and url a string"`,
        `${REFERENCE} §3.1.b: the dispatcher ignores payloads it does not know`,
        `${REFERENCE} §3.2: a bad Upgrade argument is answered with "1 or >%s to upgrade"`,
        `${REFERENCE} §3.3: a bad topic MD5 is "400 BAD_CHECKSUM", a bad Base64 body "400 BAD_FIRMWARE"`,
      ],
      description: 'Panics and resets on a malformed trigger, dropping its MQTT session (last will fires).',
    },
    {
      name: DEFECTS.tasmotaUpgradesToOlder,
      breaks: [
        'mqtt-trigger/tasmota/2',
        `${REFERENCE} §3.2: "Upgrade <version> (≥3 chars) starts it only if <version> is newer than the running one"`,
      ],
      description:
        'Tasmota: `Upgrade <version>` downloads whatever version is given, older or equal included.',
    },
    {
      name: DEFECTS.restartsAfterFailedDownload,
      breaks: [
        'mqtt-trigger/tasmota/3',
        'mqtt-trigger/buttons-json/3',
        `${REFERENCE} §3.1.a: "failure → log and clear g_ota_in_progress"`,
        `${REFERENCE} §3.2: "Failed <ESPhttpUpdate.getLastErrorString()>" on stat/<topic>/UPGRADE, the device keeps running`,
      ],
      description: 'buttons-json and Tasmota: resets after a failed download instead of staying up.',
    },
    {
      name: DEFECTS.noLastWill,
      breaks: [
        'mqtt-trigger/buttons-u/3',
        'mqtt-trigger/tasmota/5',
        `${REFERENCE} §3.1.b: "LWT topic /switch/state/root, payload {\\"status\\":\\"disconnected\\",…,\\"reason\\":\\"ungraceful\\"}, QoS 1, retain"`,
      ],
      description:
        'Connects without a last will: an abrupt power loss leaves the retained status saying connected.',
    },
    {
      name: DEFECTS.ignoresOtaDisabled,
      breaks: ['mqtt-trigger/homie/6', `${REFERENCE} §3.3: "403 — OTA disabled (checked at index 0)"`],
      description:
        'Homie: announces $implementation/ota/enabled = false but never checks it, so a firmware message is flashed (202 … 200) instead of answered 403.',
    },
    {
      name: DEFECTS.keepsOldImage,
      breaks: [
        'mqtt-trigger/buttons-u/1',
        'mqtt-trigger/buttons-json/1',
        'mqtt-trigger/tasmota/1',
        'mqtt-trigger/homie/1',
        'mqtt-trigger/homie/2',
        `${REFERENCE} §3.1.b: "after reboot, retained {"status":"connected",…,"firmware":<new build ts>}"; §3.2: "Successful. Restarting" then the new version; §3.3: "compare the new $fw/checksum to the image MD5"`,
      ],
      description:
        "Downloads and verifies the image, reports success and restarts, but the new image never boots: on ESP32 esp_ota_set_boot_partition is never called; on ESP8266 the firmware saves its state over the first RTC user memory block, erasing eboot's copy command.",
    },
    {
      name: DEFECTS.noGracefulDisconnect,
      breaks: [
        'mqtt-trigger/buttons-u/1',
        `${REFERENCE} §3.1.b: "node_root_stop(), which publishes {"status":"disconnected","device_id":…,"timestamp":…} retained QoS1 and destroys the MQTT client"`,
      ],
      description:
        'buttons-u: tears the mesh down before node_root_stop(), so instead of the graceful retained disconnected status the broker publishes the last will ("reason":"ungraceful").',
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
      beforeUpdateRestart: () => {
        const rtc = context.esp8266?.rtc;
        if (!rtc || !context.defects.has(DEFECTS.keepsOldImage)) return;
        // ESP.rtcUserMemoryWrite(0, …): a boot counter and flags in the block eboot reads.
        const state = Buffer.alloc(16);
        state.writeUInt32LE(0x5a5a0001, 0);
        state.writeUInt32LE(1, 4);
        rtc.write(0, state);
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
