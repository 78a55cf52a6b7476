import {
  mosquittoPath,
  startEmbeddedBroker,
  startMosquitto as startMosquittoBroker,
} from '../../../../drivers/mqtt/index.ts';

/** A broker a test started on a loopback port (the harness's own brokers, from drivers/mqtt). */
export interface TestBroker {
  readonly name: string;
  readonly url: string;
  stop(): Promise<void>;
}

export { mosquittoPath };

/** The embedded broker: aedes on node:net, loopback, any port. */
export async function startAedes(): Promise<TestBroker> {
  const broker = await startEmbeddedBroker();
  return { name: 'aedes', url: broker.url, stop: () => broker.stop() };
}

/** A real Mosquitto on a free loopback port (`which mosquitto` found it). */
export async function startMosquitto(): Promise<TestBroker> {
  const broker = await startMosquittoBroker();
  return { name: 'mosquitto', url: broker.url, stop: () => broker.stop() };
}
