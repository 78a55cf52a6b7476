import { connect, type MqttClient } from 'mqtt';

export interface ObservedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  at: number;
}

/** The harness's MQTT side: it sees every message on the broker and publishes triggers. */
export class MqttObserver {
  readonly messages: ObservedMessage[] = [];
  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, retain: packet.retain, at: Date.now() });
    });
  }

  static async connect(url: string, subscriptions: string[] = ['#']): Promise<MqttObserver> {
    const client = connect(url, {
      clientId: `harness-${Math.random().toString(16).slice(2)}`,
      reconnectPeriod: 0,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const observer = new MqttObserver(client);
    await client.subscribeAsync(subscriptions, { qos: 1 });
    return observer;
  }

  on(topic: string): ObservedMessage[] {
    return this.messages.filter((message) => message.topic === topic);
  }

  texts(topic: string): string[] {
    return this.on(topic).map((message) => message.payload.toString('utf8'));
  }

  async publish(topic: string, payload: string | Buffer, qos: 0 | 1 = 0): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos });
  }

  /** Waits for a message on `topic` that satisfies `match`, looking at those already seen first. */
  async waitFor(
    topic: string,
    match: (text: string, message: ObservedMessage) => boolean = () => true,
    timeoutMs = 8000,
    since = 0,
  ): Promise<ObservedMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages
        .slice(since)
        .find((message) => message.topic === topic && match(message.payload.toString('utf8'), message));
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(
          `no matching message on ${topic} within ${timeoutMs} ms; seen: ${JSON.stringify(this.texts(topic))}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  mark(): number {
    return this.messages.length;
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
