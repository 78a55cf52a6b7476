import { connect, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { FirmwareContext } from '../../device/index.ts';
import type { MqttTriggerOptions } from './options.ts';

export interface LastWill {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

export interface DeviceMqttSettings {
  clientId: string;
  will?: LastWill;
  /** Runs on every (re)connect, after the CONNACK. */
  onConnect(): void | Promise<void>;
  onMessage(topic: string, payload: Buffer): void;
}

/**
 * The chip's MQTT client (esp-mqtt, PubSubClient or AsyncMqttClient in the real firmwares),
 * played by mqtt.js. It keeps reconnecting like the real ones do, and a reset drops the TCP
 * connection without DISCONNECT so the broker publishes the last will.
 */
export class DeviceMqtt {
  readonly client: MqttClient;
  private readonly context: FirmwareContext;

  constructor(context: FirmwareContext, options: MqttTriggerOptions, settings: DeviceMqttSettings) {
    this.context = context;
    this.client = connect(options.brokerUrl, {
      clientId: settings.clientId,
      username: options.username,
      password: options.password,
      protocolVersion: 4,
      clean: true,
      keepalive: 15,
      reconnectPeriod: options.reconnectMs,
      connectTimeout: 5000,
      will: settings.will
        ? {
            topic: settings.will.topic,
            payload: Buffer.from(settings.will.payload),
            qos: settings.will.qos,
            retain: settings.will.retain,
          }
        : undefined,
    });
    this.client.on('connect', () => {
      noDelay(this.client);
      if (context.signal.aborted) return;
      context.console.line(`MQT: Connected to ${options.brokerUrl} as ${settings.clientId}`);
      void settings.onConnect();
    });
    this.client.on('message', (topic, payload) => {
      if (context.signal.aborted) return;
      settings.onMessage(topic, payload);
    });
    // A chip without a broker keeps retrying; the error is a log line, never a crash.
    this.client.on('error', (error) => {
      if (!context.signal.aborted) context.console.line(`MQT: Connect failed: ${error.message}`);
    });
    const url = new URL(options.brokerUrl);
    context.publish('mqtt', {
      protocol: 'mqtt',
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'mqtts:' ? 8883 : 1883)),
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Resolves on the SUBACK, so what the device announces next is said once it can hear commands. */
  subscribe(topics: readonly string[], qos: 0 | 1): Promise<void> {
    return new Promise((resolve) => {
      this.client.subscribe([...topics], { qos }, () => resolve());
    });
  }

  publish(topic: string, payload: string | Buffer, options: IClientPublishOptions): Promise<void> {
    if (this.context.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.client.publish(topic, payload, options, () => void this.flushed().then(resolve));
    });
  }

  /** Resolves once the socket handed its buffer to the TCP stack, so a reset right after still lets it leave. */
  private async flushed(): Promise<void> {
    const stream = this.client.stream as { writableLength?: number } | undefined;
    for (let spins = 0; spins < 200 && (stream?.writableLength ?? 0) > 0; spins++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** `esp_mqtt_client_stop`: a DISCONNECT, so no last will. */
  closeGracefully(): Promise<void> {
    return new Promise((resolve) => this.client.end(false, {}, () => resolve()));
  }

  /** A reset or power loss: the socket vanishes and the broker sends the last will. */
  closeAbruptly(): void {
    this.client.end(true);
  }
}

/**
 * Small packets go out at once: a publish right behind another would otherwise wait for the
 * broker's delayed ACK (Nagle: 40 ms on Linux loopback per command and its answer).
 */
function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}
