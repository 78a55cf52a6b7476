import { DeviceMqtt } from './device-mqtt.ts';
import { DEFECTS, type DialectBoot, type DialectEnvironment } from './dialect.ts';
import { httpUpdate } from './http-update.ts';

const NVS_OTA_URL = 'tasmota/ota_url';

/**
 * Tasmota (reference/viperhttp-luartos-mqtt.md §3.2): `cmnd/<topic>/OtaUrl` and
 * `cmnd/<topic>/Upgrade 1|<version>`, replies on `stat/<topic>/RESULT`, the download through
 * ESPhttpUpdate, the result on `stat/<topic>/UPGRADE`. `tele/<topic>/LWT` Online/Offline and
 * `INFO1`/`Status 2` carry the version after the reboot (standard Tasmota; UNCONFIRMED in the
 * reference).
 */
export function startTasmota(env: DialectEnvironment): DialectBoot {
  const { context, options } = env;
  const topic = options.deviceId;
  const version = context.running.version;
  const clientId = `DVES_${topic.replace(/^.*_/, '').toUpperCase()}`;
  let upgrading = false;

  const mqtt = new DeviceMqtt(context, options, {
    clientId,
    will: context.defects.has(DEFECTS.noLastWill)
      ? undefined
      : { topic: `tele/${topic}/LWT`, payload: 'Offline', qos: 1, retain: true },
    onConnect: async () => {
      await mqtt.subscribe([`cmnd/${topic}/#`], 0);
      void mqtt.publish(`tele/${topic}/LWT`, 'Online', { qos: 1, retain: true });
      void mqtt.publish(
        `tele/${topic}/INFO1`,
        JSON.stringify({
          Info1: {
            Module: 'Generic',
            Version: `${version}(tasmota)`,
            FallbackTopic: `cmnd/${clientId}_fb/`,
            GroupTopic: 'cmnd/tasmotas/',
          },
        }),
        { qos: 0 },
      );
    },
    onMessage: (commandTopic, payload) => handleCommand(commandTopic, payload.toString('utf8').trim()),
  });
  log(`APP: Tasmota ${version} (${context.running.projectName}) starting`);

  function log(text: string): void {
    const now = new Date();
    const stamp = now.toISOString().slice(11, 23);
    context.console.line(`${stamp} ${text}`);
  }

  function result(body: Record<string, string>): void {
    void mqtt.publish(`stat/${topic}/RESULT`, JSON.stringify(body), { qos: 0 });
  }

  function otaUrl(): string {
    return context.nvs.get(NVS_OTA_URL) ?? options.otaUrl;
  }

  function malformed(reason: string, reply: Record<string, string>): void {
    if (context.defects.has(DEFECTS.crashesOnMalformedTrigger)) {
      env.crash(reason);
      return;
    }
    log(`CMD: ${reason}`);
    result(reply);
  }

  function handleCommand(commandTopic: string, argument: string): void {
    const command = commandTopic.slice(`cmnd/${topic}/`.length);
    log(`MQT: ${commandTopic} = ${argument}`);
    switch (command.toLowerCase()) {
      case 'otaurl':
        if (argument === '1') context.nvs.delete(NVS_OTA_URL);
        else if (argument.length > 0) context.nvs.set(NVS_OTA_URL, argument);
        result({ OtaUrl: otaUrl() });
        return;
      case 'upgrade':
        upgrade(argument);
        return;
      case 'status':
        if (argument === '2') {
          void mqtt.publish(
            `stat/${topic}/STATUS2`,
            JSON.stringify({
              StatusFWR: {
                Version: `${version}(tasmota)`,
                Hardware: context.platform === 'esp8266' ? 'ESP8266EX' : 'ESP32-D0WD-V3',
              },
            }),
            { qos: 0 },
          );
          return;
        }
        malformed(`Status ${argument} not emulated`, { Command: 'Unknown' });
        return;
      default:
        malformed(`unknown command ${command}`, { Command: 'Unknown' });
    }
  }

  function upgrade(argument: string): void {
    const newer =
      argument.length > 2 &&
      (context.defects.has(DEFECTS.tasmotaUpgradesToOlder) || compareVersions(argument, version) > 0);
    if (argument !== '1' && !newer) {
      malformed(`Upgrade ${argument} refused`, { Upgrade: `1 or >${version} to upgrade` });
      return;
    }
    const url = otaUrl();
    result({ Upgrade: `Version ${version} from ${url}` });
    if (upgrading) return;
    upgrading = true;
    // The 250 ms state machine starts the download once the backlog is empty.
    env.later(250, () => void download(url));
  }

  async function download(url: string): Promise<void> {
    log(`UPG: Attempt 1 ${url}`);
    const outcome = await httpUpdate(context, url, version, options.httpTimeoutMs);
    if (context.signal.aborted) return;
    upgrading = false;
    // Tasmota counts everything but HTTP_UPDATE_FAILED as a success (304 included).
    if (outcome.result !== 'HTTP_UPDATE_FAILED') {
      await mqtt.publish(`stat/${topic}/UPGRADE`, JSON.stringify({ Upgrade: 'Successful. Restarting' }), {
        qos: 0,
      });
      log('APP: Restarting');
      env.later(options.restartDelayMs, () => {
        env.beforeUpdateRestart();
        context.restart();
      });
      return;
    }
    log(`UPG: Failed ${outcome.lastErrorString}`);
    await mqtt.publish(
      `stat/${topic}/UPGRADE`,
      JSON.stringify({ Upgrade: `Failed ${outcome.lastErrorString}` }),
      { qos: 0 },
    );
    // Older Tasmota restarted "anyway"; current releases keep running after a failed download.
    if (context.defects.has(DEFECTS.restartsAfterFailedDownload)) {
      log('APP: Restarting');
      context.restart();
    }
  }

  return { stop: () => mqtt.closeAbruptly() };
}

/**
 * Tasmota's VersionCompare: `major.minor.patch.build` packed into one number, missing parts 0;
 * positive when `candidate` is newer than `running`.
 */
export function compareVersions(candidate: string, running: string): number {
  const pack = (text: string): number => {
    const parts = text.split(/[.(]/).slice(0, 4);
    let value = 0;
    for (let index = 0; index < 4; index++) {
      value = value * 256 + Math.min(255, Number.parseInt(parts[index] ?? '0', 10) || 0);
    }
    return value;
  };
  return Math.sign(pack(candidate) - pack(running));
}
