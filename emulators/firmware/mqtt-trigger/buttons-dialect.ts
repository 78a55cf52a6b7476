import { DeviceMqtt } from './device-mqtt.ts';
import { DEFECTS, type DialectBoot, type DialectEnvironment } from './dialect.ts';
import { MqttTriggerConfigError } from './errors.ts';
import { espHttpsOta } from './esp-https-ota.ts';

const STATE_TOPIC = '/switch/state/root';
const ROOT_COMMAND_TOPIC = '/switch/cmd/root';
const MAX_PAYLOAD = 8192;
/** `MESH_MSG_DATA_SIZE - 1`: the URL is copied into a 200-byte mesh message. */
const MAX_URL_BYTES = 199;
const OTA_MAX_FAILURES = 3;
const NVS_FAIL_COUNT = 'ota_state/fail_count';

/**
 * buttonsMeshIDF (reference/viperhttp-luartos-mqtt.md §3.1). `buttons-json` is the historical
 * root that takes `{"type":"ota_trigger","url":…}` on `/switch/cmd/root` (§3.1.a, the seed's
 * dialect); `buttons-u` is HEAD: one byte `U`, a compile-time URL, retained connected/
 * disconnected status and a last will (§3.1.b). The emulated chip is the mesh node that updates,
 * with the root's MQTT session folded in, so one device shows the whole observable sequence.
 */
export function startButtons(env: DialectEnvironment, dialect: 'buttons-json' | 'buttons-u'): DialectBoot {
  const { context, options } = env;
  const ota = context.esp32?.ota;
  if (!ota) {
    throw new MqttTriggerConfigError(`the ${dialect} dialect is ESP-IDF firmware and needs an ESP32`);
  }
  const deviceId = Number(options.deviceId);
  if (!Number.isSafeInteger(deviceId) || deviceId <= 0) {
    throw new MqttTriggerConfigError(
      `buttons deviceId must be a positive integer (a MAC); got '${options.deviceId}'`,
    );
  }
  const descriptor = ota.getPartitionDescription(context.esp32!.runningPartition);
  const firmware =
    dialect === 'buttons-json'
      ? Buffer.from(descriptor.appElfSha256.subarray(0, 16)).toString('hex')
      : buildTimestamp(descriptor.date, descriptor.time);
  const current = dialect === 'buttons-u';
  let otaInProgress = false;
  let announcedConnected = false;
  let statusTimer: NodeJS.Timeout | undefined;

  if (current && failCount() >= OTA_MAX_FAILURES) {
    context.console.log('W', 'HEALTH_OTA', `OTA failed ${failCount()} times, rolling back`);
    context.nvs.set(NVS_FAIL_COUNT, '0');
    rollbackAndReboot();
    return { stop: () => {} };
  }

  const initUptime = env.uptimeSeconds();
  const mqtt = new DeviceMqtt(context, options, {
    clientId: `domator_${deviceId}`,
    will:
      current && !context.defects.has(DEFECTS.noLastWill)
        ? {
            topic: STATE_TOPIC,
            payload: JSON.stringify({
              status: 'disconnected',
              device_id: deviceId,
              timestamp: initUptime,
              reason: 'ungraceful',
            }),
            qos: 1,
            retain: true,
          }
        : undefined,
    onConnect: async () => {
      await mqtt.subscribe(['/switch/cmd/+', '/switch/cmd', '/relay/cmd/+', '/relay/cmd'], 0);
      if (current && !announcedConnected) {
        announcedConnected = true;
        void mqtt.publish(
          STATE_TOPIC,
          JSON.stringify({
            status: 'connected',
            device_id: deviceId,
            timestamp: env.uptimeSeconds(),
            firmware,
            mesh_layer: 1,
            ip: context.host,
          }),
          { qos: 1, retain: true },
        );
      }
      publishStatus();
      if (!statusTimer && options.statusIntervalMs > 0) {
        statusTimer = setInterval(publishStatus, options.statusIntervalMs);
      }
    },
    onMessage: (topic, payload) => {
      if (payload.length === 0 || payload.length > MAX_PAYLOAD) return;
      if (current) handleCurrent(topic, payload);
      else handleHistorical(topic, payload);
    },
  });
  context.console.log('I', 'NODE_ROOT', `MQTT client started, device id ${deviceId}`);

  function publishStatus(): void {
    if (!mqtt.connected) return;
    const uptime = env.uptimeSeconds();
    const status = current
      ? {
          deviceId,
          parentId: 0,
          type: options.deviceType,
          isRoot: 1,
          freeHeap: 182_340,
          uptime,
          meshLayer: 1,
          peerCount: 0,
          firmware,
          rssi: -52,
          clicks: 0,
          lowHeap: 0,
        }
      : {
          deviceId,
          parentId: 0,
          type: 'root',
          freeHeap: 182_340,
          uptime,
          meshLayer: 1,
          peerCount: 0,
          firmware,
          clicks: 0,
          lowHeap: 0,
        };
    void mqtt.publish(STATE_TOPIC, JSON.stringify(status), { qos: 0 });
  }

  function malformed(reason: string): void {
    if (context.defects.has(DEFECTS.crashesOnMalformedTrigger)) {
      env.crash(reason);
      return;
    }
    context.console.log('W', 'NODE_ROOT', `Ignoring command: ${reason}`);
  }

  function handleHistorical(topic: string, payload: Buffer): void {
    if (!topic.includes(ROOT_COMMAND_TOPIC) || payload[0] !== 0x7b) return;
    let message: unknown;
    try {
      message = JSON.parse(payload.toString('utf8'));
    } catch {
      malformed('Failed to parse JSON');
      return;
    }
    const record =
      typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : {};
    if (typeof record.type !== 'string') {
      malformed('JSON has no string "type"');
      return;
    }
    if (['connections', 'button_types', 'gesture_config'].includes(record.type)) {
      context.console.log('I', 'NODE_ROOT', `Received ${record.type} config`);
      return;
    }
    if (record.type !== 'ota_trigger') {
      malformed(`unknown type "${record.type}"`);
      return;
    }
    if (typeof record.url !== 'string') {
      malformed('ota_trigger without a string "url"');
      return;
    }
    const url = Buffer.from(record.url, 'utf8').subarray(0, MAX_URL_BYTES).toString('utf8');
    context.console.log('I', 'NODE_ROOT', `OTA trigger received, URL: ${url}`);
    void runHistoricalOta(url);
  }

  async function runHistoricalOta(url: string): Promise<void> {
    if (otaInProgress) {
      context.console.log('W', 'HEALTH_OTA', 'OTA already in progress');
      return;
    }
    otaInProgress = true;
    context.console.log('I', 'HEALTH_OTA', `Starting OTA update from: ${url}`);
    const result = await espHttpsOta(context, url, 10_000);
    if (context.signal.aborted) return;
    if (result === 'ESP_OK') {
      context.console.log('I', 'HEALTH_OTA', 'OTA update successful, restarting...');
      env.later(options.restartDelayMs, () => context.restart());
      return;
    }
    context.console.log('E', 'HEALTH_OTA', `OTA update failed: ${result}`);
    otaInProgress = false;
    if (context.defects.has(DEFECTS.restartsAfterFailedDownload)) context.restart();
  }

  function handleCurrent(topic: string, payload: Buffer): void {
    if (topic.includes(ROOT_COMMAND_TOPIC)) {
      if (payload[0] === 0x7b) {
        context.console.log('I', 'NODE_ROOT', 'Root JSON command');
        return;
      }
      // Only `P` acts here; HEAD ignores `U` on the root topic although its server sends it.
      if (payload.length === 1 && payload[0] === 0x50) {
        context.console.log('I', 'NODE_ROOT', 'Ping all nodes');
      } else if (payload.length === 1 && payload[0] === 0x55) {
        context.console.log('W', 'NODE_ROOT', `'U' on ${ROOT_COMMAND_TOPIC} is not handled`);
      } else {
        malformed(`unknown root command (${payload.length} bytes)`);
      }
      return;
    }
    const levels = topic.split('/');
    const type = levels[1];
    if (type !== 'switch' && type !== 'relay') return;
    const last = levels.at(-1) ?? '';
    const targetId = /^\d+/.test(last) ? Number.parseInt(last, 10) : 0;
    if (!(payload.length === 1 && payload[0] === 0x55)) {
      malformed(`unknown command on ${topic} (${payload.length} bytes)`);
      return;
    }
    if (targetId === 0) {
      if (type !== options.deviceType) return;
    } else if (targetId !== deviceId) {
      context.console.log('W', 'NODE_ROOT', 'Could not find target device');
      return;
    }
    if (otaInProgress) return;
    otaInProgress = true;
    context.console.log('I', 'HEALTH_OTA', `OTA requested, starting in ${options.otaCountdownMs} ms`);
    env.later(options.otaCountdownMs, () => void runCurrentOta());
  }

  async function runCurrentOta(): Promise<void> {
    if (statusTimer) clearInterval(statusTimer);
    statusTimer = undefined;
    if (context.defects.has(DEFECTS.noGracefulDisconnect)) {
      // The mesh and WiFi are torn down under a live client: the broker sees the TCP drop and
      // publishes the last will ("reason":"ungraceful") instead of the graceful status.
      mqtt.closeAbruptly();
    } else {
      // node_root_stop(): the graceful retained status, then the MQTT client is destroyed.
      await mqtt.publish(
        STATE_TOPIC,
        JSON.stringify({ status: 'disconnected', device_id: deviceId, timestamp: env.uptimeSeconds() }),
        { qos: 1, retain: true },
      );
      await mqtt.closeGracefully();
    }
    if (context.signal.aborted) return;
    context.console.log('I', 'HEALTH_OTA', `Starting OTA from ${options.otaUrl}`);
    const result = await espHttpsOta(context, options.otaUrl, 30_000);
    if (context.signal.aborted) return;
    if (result === 'ESP_OK') {
      context.nvs.set(NVS_FAIL_COUNT, '0');
      context.console.log('I', 'HEALTH_OTA', 'OTA update successful, restarting...');
      context.restart();
      return;
    }
    const failures = failCount() + 1;
    context.nvs.set(NVS_FAIL_COUNT, String(failures));
    context.console.log(
      'E',
      'HEALTH_OTA',
      `OTA update failed: ${result} (failure ${failures}/${OTA_MAX_FAILURES})`,
    );
    if (failures >= OTA_MAX_FAILURES) {
      context.nvs.set(NVS_FAIL_COUNT, '0');
      rollbackAndReboot();
      return;
    }
    context.console.log('W', 'HEALTH_OTA', 'Rebooting to retry OTA later...');
    context.restart();
  }

  function failCount(): number {
    return Number(context.nvs.get(NVS_FAIL_COUNT) ?? '0') || 0;
  }

  function rollbackAndReboot(): void {
    try {
      ota!.markAppInvalidRollbackAndReboot();
    } catch (error) {
      context.console.log('E', 'HEALTH_OTA', `Rollback failed: ${(error as Error).message}`);
    }
    context.restart();
  }

  return {
    stop: () => {
      if (statusTimer) clearInterval(statusTimer);
      mqtt.closeAbruptly();
    },
  };
}

/** `__DATE__ " " __TIME__` (e.g. `Feb  7 2026 12:34:56`) as unix seconds, the build clock taken as UTC. */
function buildTimestamp(date: string, time: string): number {
  const parsed = Date.parse(`${date.replace(/\s+/g, ' ')} ${time} UTC`);
  return Number.isFinite(parsed) ? Math.floor(parsed / 1000) : 0;
}
