import { randomBytes } from 'node:crypto';
import { connect, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { MqttDriverError } from './errors.ts';
import { MqttPacketSizeGuard } from './packet-size-guard.ts';

/** One message the harness received, in arrival order. */
export interface MqttMessage {
  /** Position in the harness's log, from 0. */
  readonly index: number;
  readonly topic: string;
  readonly payload: Buffer;
  /** Set by the broker only on messages it replays from its retained store at subscribe time. */
  readonly retain: boolean;
  readonly atMs: number;
  /** The payload as UTF-8. */
  readonly text: string;
}

/** Where the harness writes its wire exchanges (the Target's transcript has this shape). */
export interface MqttTranscript {
  record(step: string, direction: 'send' | 'receive' | 'event', text: string): void;
}

export interface MqttHarnessTimeouts {
  /** CONNECT to CONNACK; past it the broker counts as unreachable. Default 5000. */
  connectMs?: number;
  /** Default timeout of expectMessage and of SUBACK/PUBACK waits. Default 5000. */
  stepMs?: number;
}

export interface MqttHarnessOptions {
  brokerUrl: string;
  /** Named in every error so a multi-target run says whose step failed. */
  targetName: string;
  username?: string;
  password?: string;
  timeouts?: MqttHarnessTimeouts;
  transcript?: MqttTranscript;
  /** Applied to every text that goes into errors and the transcript. */
  redact?: (text: string) => string;
  /** Default `ota-conformance-<target>-<random>`. */
  clientId?: string;
}

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
  step?: string;
}

export interface ExpectMessageOptions {
  timeoutMs?: number;
  step?: string;
  /** Log index to search from (see `mark()`); default: only messages that arrive after the call. */
  since?: number;
  /**
   * Only a message published while the harness listened. The broker's replay of a retained
   * message, sent when the harness subscribes, is from before then however late it arrives (MQTT
   * 3.1.1 §3.3.1.3, [MQTT-3.3.1-8] and [MQTT-3.3.1-9]: RETAIN is 1 on that replay and 0 on every
   * message forwarded to a subscription that already existed), so it is no answer to what the
   * harness just did.
   */
  live?: boolean;
}

interface Waiter {
  filter: string;
  step: string;
  predicate: (message: MqttMessage) => boolean;
  resolve(message: MqttMessage): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const PREVIEW_BYTES = 160;
/**
 * The largest MQTT packet the harness accepts: a Homie firmware-over-MQTT image (at most 16 MiB,
 * the largest flash either ROM supports) plus its topic. Anything bigger is refused at its header.
 */
export const MAX_MQTT_PACKET_BYTES = 16 * 1024 * 1024 + 64 * 1024;
const MARKER_PREFIX = 'ota-conformance/marker/';

/**
 * The harness's MQTT client (mqtt.js 5, MQTT 3.1.1): it publishes triggers and keeps a log of
 * everything it hears on the filters it subscribed, so a step can wait for a message that may
 * already have arrived. A broker that is down fails `connect` as MQTT_BROKER_UNREACHABLE within
 * the connect timeout, never as a device failure.
 */
export class MqttHarness {
  readonly targetName: string;
  private readonly log: MqttMessage[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly subscribed = new Set<string>();
  private readonly stepMs: number;
  private readonly redact: (text: string) => string;
  private readonly transcript: MqttTranscript | undefined;
  private readonly markerTopic: string;
  private lostReason: string | undefined;
  private closed = false;

  private constructor(
    private readonly client: MqttClient,
    options: MqttHarnessOptions,
    markerTopic: string,
  ) {
    this.targetName = options.targetName;
    this.stepMs = options.timeouts?.stepMs ?? 5000;
    this.redact = options.redact ?? ((text) => text);
    this.transcript = options.transcript;
    this.markerTopic = markerTopic;
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    const stream = client.stream;
    const guard = new MqttPacketSizeGuard(MAX_MQTT_PACKET_BYTES, (announced) => {
      this.lostReason = `the broker sent an MQTT packet of ${announced} bytes, over the harness's limit of ${MAX_MQTT_PACKET_BYTES} bytes; the connection was closed before buffering it`;
      stream.destroy();
    });
    stream.on('data', (data: Buffer) => guard.push(data));
    client.on('close', () => {
      if (this.closed) return;
      this.lostReason ??= 'the broker closed the connection';
      for (const waiter of this.waiters) this.failWaiter(waiter, this.lostError(waiter.step));
    });
    client.on('error', (error) => {
      this.lostReason = error.message;
    });
  }

  /** Connects, or throws MQTT_BROKER_UNREACHABLE naming the target and the broker. */
  static async connect(options: MqttHarnessOptions): Promise<MqttHarness> {
    const connectMs = options.timeouts?.connectMs ?? 5000;
    const redact = options.redact ?? ((text: string) => text);
    const clientId =
      options.clientId ?? `ota-conformance-${options.targetName}-${randomBytes(4).toString('hex')}`;
    const client = connect(options.brokerUrl, {
      clientId,
      username: options.username,
      password: options.password,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 0,
      connectTimeout: connectMs,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no CONNACK within ${connectMs} ms`)), connectMs);
        const settle = (error?: Error) => {
          clearTimeout(timer);
          client.off('connect', onConnect);
          client.off('error', onError);
          client.off('close', onClose);
          if (error) reject(error);
          else resolve();
        };
        const onConnect = () => {
          // A publish right behind another would otherwise wait for the broker's delayed ACK.
          (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
          settle();
        };
        const onError = (error: Error) => settle(error);
        const onClose = () => settle(new Error('connection closed before CONNACK'));
        client.on('connect', onConnect);
        client.on('error', onError);
        client.on('close', onClose);
      });
    } catch (error) {
      client.end(true);
      throw new MqttDriverError(
        'MQTT_BROKER_UNREACHABLE',
        redact(
          `target ${options.targetName}: step "connect to the MQTT broker": ${options.brokerUrl} is unreachable: ${(error as Error).message}`,
        ),
        { cause: error },
      );
    }
    const harness = new MqttHarness(client, options, `${MARKER_PREFIX}${clientId}`);
    await harness.subscribe(harness.markerTopic, 'subscribe to the harness marker topic');
    return harness;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** The log position now: pass it as `since` to wait for what arrives after this point. */
  mark(): number {
    return this.log.length;
  }

  /** Messages logged since `since` whose topic matches `filter`. */
  messages(filter = '#', since = 0): MqttMessage[] {
    return this.log.slice(since).filter((message) => topicMatches(filter, message.topic));
  }

  /** Subscribes once per filter (QoS 1); later calls with the same filter return at once. */
  async subscribe(filter: string, step = `subscribe to ${filter}`): Promise<void> {
    if (this.subscribed.has(filter)) return;
    await this.withStepTimeout(this.client.subscribeAsync(filter, { qos: 1 }), step, `SUBACK for ${filter}`);
    this.subscribed.add(filter);
    this.transcript?.record(step, 'event', `SUBSCRIBE ${filter}`);
  }

  async publish(topic: string, payload: string | Uint8Array, options: PublishOptions = {}): Promise<void> {
    const step = options.step ?? `publish to ${topic}`;
    this.requireConnected(step);
    const publishOptions: IClientPublishOptions = { qos: options.qos ?? 0, retain: options.retain ?? false };
    const body =
      typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
    this.transcript?.record(
      step,
      'send',
      `PUBLISH ${topic}${publishOptions.retain ? ' (retain)' : ''} ${preview(body)}`,
    );
    await this.withStepTimeout(
      this.client.publishAsync(topic, body, publishOptions),
      step,
      `PUBLISH to ${topic}`,
    );
  }

  /**
   * Waits for a message on `filter` that satisfies `predicate`: first among those logged since
   * `since`, then as they arrive. Subscribes to the filter first when needed.
   */
  async expectMessage(
    filter: string,
    accept: (message: MqttMessage) => boolean = () => true,
    options: ExpectMessageOptions = {},
  ): Promise<MqttMessage> {
    const predicate = options.live ? (message: MqttMessage) => !message.retain && accept(message) : accept;
    const step = options.step ?? `wait for a message on ${filter}`;
    const since = options.since ?? this.mark();
    const timeoutMs = options.timeoutMs ?? this.stepMs;
    await this.subscribe(filter, step);
    const already = this.messages(filter, since).find(predicate);
    if (already) return already;
    this.requireConnected(step);
    return await new Promise<MqttMessage>((resolve, reject) => {
      const waiter: Waiter = {
        filter,
        step,
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          if (!this.client.connected) {
            this.failWaiter(waiter, this.lostError(step));
            return;
          }
          const seen = this.messages(filter, since).map(
            (message) => `${message.topic} ${preview(message.payload)}`,
          );
          this.failWaiter(
            waiter,
            new MqttDriverError(
              'MQTT_MESSAGE_TIMEOUT',
              this.redact(
                `target ${this.targetName}: step "${step}": no matching message on ${filter} within ${timeoutMs} ms; ` +
                  `saw ${seen.length}${seen.length > 0 ? `: ${seen.slice(-8).join('; ')}` : ''}`,
              ),
            ),
          );
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * The message the broker keeps retained on `topic`, or undefined when it keeps none. Subscribing
   * (again) makes the broker replay it; two round trips through a marker topic bound the wait
   * for "none" without a fixed delay.
   */
  async retained(topic: string, options: { step?: string } = {}): Promise<MqttMessage | undefined> {
    const step = options.step ?? `read the retained message on ${topic}`;
    const since = this.mark();
    this.subscribed.delete(topic);
    await this.subscribe(topic, step);
    const find = () => this.messages(topic, since).findLast((message) => message.retain);
    for (let roundTrip = 0; roundTrip < 2 && !find(); roundTrip++) await this.roundTrip(step);
    const found = find();
    this.transcript?.record(
      step,
      'receive',
      found ? `${topic} ${preview(found.payload)}` : `${topic}: nothing retained`,
    );
    return found;
  }

  /** Clears a retained message (a zero-length retained publish). */
  async clearRetained(topic: string, step = `clear the retained message on ${topic}`): Promise<void> {
    await this.publish(topic, '', { qos: 1, retain: true, step });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters)
      this.failWaiter(
        waiter,
        new MqttDriverError(
          'MQTT_CONNECTION_LOST',
          `target ${this.targetName}: the harness closed its MQTT client`,
        ),
      );
    await this.client.endAsync(false);
  }

  private async roundTrip(step: string): Promise<void> {
    const token = randomBytes(6).toString('hex');
    const echo = this.expectMessage(this.markerTopic, (message) => message.text === token, { step });
    await this.publish(this.markerTopic, token, { qos: 1, step });
    await echo;
  }

  private onMessage(topic: string, payload: Buffer, retain: boolean): void {
    const message: MqttMessage = {
      index: this.log.length,
      topic,
      payload,
      retain,
      atMs: Date.now(),
      get text() {
        return payload.toString('utf8');
      },
    };
    this.log.push(message);
    if (!topic.startsWith(MARKER_PREFIX)) {
      this.transcript?.record(
        `receive ${topic}`,
        'receive',
        `${topic}${retain ? ' (retained)' : ''} ${preview(payload)}`,
      );
    }
    for (const waiter of this.waiters) {
      if (!topicMatches(waiter.filter, topic)) continue;
      let matches = false;
      try {
        matches = waiter.predicate(message);
      } catch (error) {
        this.failWaiter(waiter, error as Error);
        continue;
      }
      if (matches) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  }

  private failWaiter(waiter: Waiter, error: Error): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
    waiter.reject(error);
  }

  private requireConnected(step: string): void {
    if (!this.client.connected) throw this.lostError(step);
  }

  private lostError(step: string): MqttDriverError {
    return new MqttDriverError(
      'MQTT_CONNECTION_LOST',
      this.redact(
        `target ${this.targetName}: step "${step}": the harness lost its MQTT broker connection${this.lostReason ? ` (${this.lostReason})` : ''}`,
      ),
    );
  }

  private async withStepTimeout<T>(operation: Promise<T>, step: string, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            this.client.connected
              ? new MqttDriverError(
                  'MQTT_BROKER_UNREACHABLE',
                  `target ${this.targetName}: step "${step}": the broker sent no ${what} within ${this.stepMs} ms`,
                )
              : this.lostError(step),
          ),
        this.stepMs,
      );
    });
    try {
      return await Promise.race([operation, timeout]);
    } catch (error) {
      if (error instanceof MqttDriverError) throw error;
      throw new MqttDriverError(
        this.client.connected ? 'MQTT_BROKER_UNREACHABLE' : 'MQTT_CONNECTION_LOST',
        this.redact(`target ${this.targetName}: step "${step}": ${what} failed: ${(error as Error).message}`),
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** MQTT topic filter matching with `+` and `#` (MQTT 3.1.1 §4.7). */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  // `#` and `+` at the first level do not match topics starting with `$` (§4.7.2).
  if (topic.startsWith('$') && (filterLevels[0] === '#' || filterLevels[0] === '+')) return false;
  for (let index = 0; index < filterLevels.length; index++) {
    const level = filterLevels[index];
    if (level === '#') return true;
    if (index >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[index]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

function preview(payload: Buffer | string): string {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = bytes.subarray(0, PREVIEW_BYTES);
  const printable = head.every(
    (byte) => byte === 0x0a || byte === 0x0d || (byte >= 0x20 && byte < 0x7f) || byte >= 0x80,
  );
  const shown = printable
    ? head.toString('utf8')
    : `<${bytes.length} bytes, starts ${head.subarray(0, 16).toString('hex')}>`;
  return printable && bytes.length > PREVIEW_BYTES ? `${shown}… (${bytes.length} bytes)` : shown;
}
