/**
 * A fleet campaign (DESIGN.md § Scale; seeds/ota-firmware-hosting-guide.md § Staged Rollout):
 * N emulated Tasmota devices (ESP8266, the mqtt-trigger firmware) across worker processes, the
 * reference update server with a staged rollout behind a proxy that faults a share of the
 * downloads, and the harness as the fleet manager: it triggers each stage over MQTT, retries a
 * failed download, and reports per device what happened.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MqttClient, connect as mqttConnect } from 'mqtt';
import { startEmbeddedBroker } from '../../../drivers/mqtt/index.ts';
import { inRollout, startReferenceUpdateServer } from '../../../drivers/reference-update-server/index.ts';
import { buildArduinoSketch } from '../../../emulators/boot/index.ts';
import { emulatedMac } from '../../../emulators/rom-loader/index.ts';
import { writeSketchDescriptor } from '../../../fixtures/esp8266-sketch/index.ts';
import { type DownloadFault, startFaultProxy } from './fault-proxy.ts';
import type { FleetDeviceSpec, WorkerMessage } from './fleet-messages.ts';

export interface FleetOptions {
  devices: number;
  /** Percentages of the fleet per stage, cumulative as the hosting guide's rollout (e.g. [10, 100]). */
  stages: number[];
  /** Share of downloads faulted (0–1). */
  faultRate: number;
  /** Devices whose every download is faulted: the deliberately unrecoverable. */
  unrecoverable: number;
  workers: number;
  /** Download attempts per device and stage before it is reported failed. */
  attempts: number;
  seed: number;
  /** Seconds a stage may take before the devices still busy are reported failed. */
  stageTimeoutS: number;
  /** Devices triggered at once: a fleet manager releases a stage in waves, not all in one burst. */
  parallel: number;
  /**
   * `mqtt`: Tasmota devices told `Upgrade 1` per stage (mqtt-trigger firmware). `poll`: devices
   * running the httpUpdate example sketch that check the server every `pollIntervalMs`.
   */
  trigger: 'mqtt' | 'poll';
  pollIntervalMs: number;
  /** An update server to test instead of the reference one (no staging then: it decides). */
  serverUrl?: string;
  write: (line: string) => void;
}

export type DeviceOutcome = 'updated' | 'failed' | 'not-reached';

export interface DeviceReport {
  name: string;
  mac: string;
  stage: number | undefined;
  requested: number;
  downloaded: boolean;
  verified: boolean;
  rebootedInto: string | undefined;
  outcome: DeviceOutcome;
  why?: string;
  faults: DownloadFault[];
}

export interface FleetReport {
  devices: DeviceReport[];
  wallS: number;
  peakRssBytes: number;
  server: {
    downloads: number;
    bytes: number;
    requests: number;
    bytesPerSecond: number;
    requestsPerSecond: number;
  };
  faults: number;
}

/** bin/loaders.mjs, which each worker imports first (as the CLI and the emulator host do). */
const LOADERS = new URL('../../../bin/loaders.mjs', import.meta.url).href;
const OLD = '1.0.0';
const NEW = '2.0.0';
const PROJECT = 'fleet-demo';
const APP_SIZE = 48 * 1024;
const FACTORY_SEED = 77;

function sketch(version: string, seed: number): Uint8Array {
  const bytes = buildArduinoSketch({ appSize: APP_SIZE, seed });
  writeSketchDescriptor(bytes, { version, projectName: PROJECT });
  return bytes;
}

const formatMac = (bytes: Uint8Array) =>
  [...bytes].map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(':');

/** A stable number in [0, 1) per device and salt: who is faulted is the same on every run of a seed. */
function draw(seed: number, key: string): number {
  return createHash('sha256').update(`${seed}:${key}`).digest().readUInt32BE(0) / 2 ** 32;
}

interface Device {
  name: string;
  id: string;
  mac: string;
  report: DeviceReport;
  /** The running version from its last INFO1 (mqtt) or boot (poll). */
  version: string | undefined;
  /** Poll fleet: failed checks since its stage began, and the last one's words. */
  failures: number;
  lastFailure: string | undefined;
  waiter: ((event: DeviceEvent) => void) | undefined;
}

type DeviceEvent = { kind: 'info'; version: string } | { kind: 'upgrade'; ok: boolean; text: string };

export async function runFleet(options: FleetOptions): Promise<FleetReport> {
  const started = performance.now();
  const folder = await mkdtemp(join(tmpdir(), 'fleet-'));
  await writeFile(join(folder, `${OLD}.bin`), sketch(OLD, FACTORY_SEED));
  await writeFile(join(folder, `${NEW}.bin`), sketch(NEW, FACTORY_SEED + 1));

  const devices: Device[] = Array.from({ length: options.devices }, (_, index) => {
    const name = `fleet-${String(index + 1).padStart(4, '0')}`;
    const mac = formatMac(emulatedMac(name));
    return {
      name,
      id: `fleet_${index + 1}`,
      mac,
      version: undefined,
      waiter: undefined,
      failures: 0,
      lastFailure: undefined,
      report: {
        name,
        mac,
        stage: undefined,
        requested: 0,
        downloaded: false,
        verified: false,
        rebootedInto: undefined,
        outcome: 'not-reached',
        faults: [],
      },
    };
  });
  const byMac = new Map(devices.map((device) => [device.mac, device]));
  const byId = new Map(devices.map((device) => [device.id, device]));
  // The unrecoverable ones first (every download faulted), then faultRate of the first downloads.
  const unrecoverable = new Set(
    [...devices]
      .sort((a, b) => draw(options.seed, `u:${a.name}`) - draw(options.seed, `u:${b.name}`))
      .slice(0, options.unrecoverable)
      .map((device) => device.mac),
  );
  const kinds: DownloadFault[] = ['cut', 'stall', 'reset'];
  const faultFor = (mac: string, attempt: number): DownloadFault | undefined => {
    const kind = kinds[Math.floor(draw(options.seed, `k:${mac}:${attempt}`) * kinds.length)]!;
    if (unrecoverable.has(mac)) return kind;
    return attempt === 0 && draw(options.seed, `f:${mac}`) < options.faultRate ? kind : undefined;
  };

  const served = { requests: 0, downloads: 0, bytes: 0, firstAt: 0, lastAt: 0 };
  const server = options.serverUrl
    ? { url: options.serverUrl, setRolloutPercent: () => {}, stop: async () => {} }
    : await startReferenceUpdateServer({
        profile: 'http-update',
        directory: folder,
        rolloutPercent: 0,
        onRequest: (entry) => {
          served.requests++;
          const at = Date.parse(entry.at);
          served.firstAt ||= at;
          served.lastAt = Math.max(served.lastAt, at + entry.ms);
          if (entry.status === 200 && entry.complete) {
            served.downloads++;
            served.bytes += entry.bodyBytes;
          }
        },
      });
  const serverUrl = new URL(server.url);
  const proxy = await startFaultProxy({
    upstream: { host: serverUrl.hostname, port: Number(serverUrl.port) },
    faultFor: (mac, attempt) => {
      const fault = faultFor(mac, attempt);
      if (fault !== undefined) byMac.get(mac)?.report.faults.push(fault);
      return fault;
    },
  });
  const poll = options.trigger === 'poll';
  const broker = poll ? undefined : await startEmbeddedBroker();
  const manager = broker === undefined ? undefined : await connectManager(broker.url, byId);
  const byName = new Map(devices.map((device) => [device.name, device]));
  const workers: ChildProcess[] = [];
  let peakRss = 0;
  const workerPeaks: number[] = [];
  try {
    // Devices, split across workers; each worker starts its share one after another.
    const share = Math.ceil(devices.length / options.workers);
    const up = new Set<string>();
    const allUp = new Promise<void>((resolve, reject) => {
      for (let index = 0; index < options.workers; index++) {
        const mine = devices.slice(index * share, (index + 1) * share);
        if (mine.length === 0) continue;
        const worker = fork(new URL('./fleet-worker.ts', import.meta.url).pathname, [], {
          // The launchers' loader set-up: tsx for our TypeScript, installed packages as they ship.
          execArgv: ['--import', LOADERS],
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        });
        workers.push(worker);
        worker.on('message', (message: WorkerMessage) => {
          if (message.type === 'ready') worker.send({ type: 'start', devices: mine.map(specFor) });
          else if (message.type === 'started') {
            up.add(message.name);
            if (up.size === devices.length) resolve();
          } else if (message.type === 'not-started') reject(new Error(`${message.name}: ${message.error}`));
          else if (message.type === 'fault') options.write(`worker fault: ${message.error.split('\n')[0]}`);
          else if (message.type === 'stopped') workerPeaks.push(message.peakRssBytes);
          else if (message.type === 'boot') {
            const device = byName.get(message.name);
            if (device !== undefined) device.version = message.version;
          } else if (message.type === 'line') {
            const device = byName.get(message.name);
            if (device !== undefined) device.report.requested++;
            if (device !== undefined && message.text.startsWith('HTTP_UPDATE_FAILED')) {
              device.failures++;
              device.lastFailure = message.text;
            }
          }
        });
      }
    });
    const specFor = (device: Device): FleetDeviceSpec =>
      poll
        ? {
            observe: true,
            emulator: {
              profile: 'http-update',
              platform: 'esp8266',
              name: device.name,
              timing: 'none',
              controlPlane: false,
              console: 'memory',
              factory: { version: OLD, projectName: PROJECT, size: APP_SIZE, seed: FACTORY_SEED },
              options: {
                updateUrl: `${proxy.url}/firmware.bin`,
                checkOnBoot: true,
                checkIntervalMs: options.pollIntervalMs,
                staMac: device.mac,
              },
            },
          }
        : {
            emulator: {
              profile: 'mqtt-trigger',
              platform: 'esp8266',
              name: device.name,
              timing: 'none',
              controlPlane: false,
              console: 'memory',
              factory: { version: OLD, projectName: PROJECT, size: APP_SIZE, seed: FACTORY_SEED },
              options: {
                dialect: 'tasmota',
                brokerUrl: broker?.url,
                deviceId: device.id,
                otaUrl: `${proxy.url}/firmware.bin`,
                restartDelayMs: 100,
                reconnectMs: 500,
                statusIntervalMs: 3_600_000,
              },
            },
          };
    const memory = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 500);
    await allUp;
    // Each device announces itself (INFO1) once its MQTT session is up; a device that never does
    // is reported, not waited for forever.
    const online = await waitFor(
      () => devices.every((device) => device.version === OLD),
      options.stageTimeoutS * 1000,
    );
    for (const device of devices.filter((entry) => entry.version !== OLD))
      fail(device, 0, `never announced itself on MQTT within ${options.stageTimeoutS} s of starting`);
    options.write(
      `${devices.filter((device) => device.version === OLD).length} of ${devices.length} devices up on ${OLD}${online ? '' : ' (the others reported failed)'} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    for (const [stageIndex, percent] of options.stages.entries()) {
      server.setRolloutPercent(percent);
      const stageStarted = performance.now();
      const pending = devices.filter((device) => device.report.outcome === 'not-reached');
      if (pending.length === 0) break;
      if (poll) await pollStage(pending, percent, stageIndex + 1);
      else {
        let next = 0;
        const lane = async () => {
          while (next < pending.length) await upgrade(pending[next++]!, stageIndex + 1);
        };
        await Promise.all(Array.from({ length: Math.min(options.parallel, pending.length) }, lane));
      }
      const updated = devices.filter((device) => device.report.outcome === 'updated').length;
      options.write(
        `stage ${stageIndex + 1} (${percent} %): triggered ${pending.length}, ${updated} on ${NEW} so far, ${((performance.now() - stageStarted) / 1000).toFixed(1)} s`,
      );
    }
    clearInterval(memory);
  } finally {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker.once('exit', () => resolve());
            worker.send({ type: 'stop' });
            setTimeout(() => {
              worker.kill('SIGKILL');
              resolve();
            }, 15_000).unref();
          }),
      ),
    );
    manager?.end(true);
    await broker?.stop();
    await proxy.stop();
    await server.stop();
    await rm(folder, { recursive: true, force: true });
  }
  const transferS = Math.max(0.001, (served.lastAt - served.firstAt) / 1000);
  return {
    devices: devices.map((device) => device.report),
    wallS: (performance.now() - started) / 1000,
    peakRssBytes: peakRss + workerPeaks.reduce((sum, peak) => sum + peak, 0),
    server: {
      downloads: served.downloads,
      bytes: served.bytes,
      requests: served.requests,
      bytesPerSecond: served.bytes / transferS,
      requestsPerSecond: served.requests / transferS,
    },
    faults: proxy.faults.length,
  };

  /** One stage for one device: trigger, and retry a failed download up to `attempts` times. */
  async function upgrade(device: Device, stage: number): Promise<void> {
    // Per device: its attempts (each up to the 8 s HTTP timeout, plus its restart) fit well inside.
    const deadline = Date.now() + options.stageTimeoutS * 1000;
    for (let attempt = 1; attempt <= options.attempts; attempt++) {
      device.report.requested++;
      const upgraded = nextEvent(device, (event) => event.kind === 'upgrade', deadline);
      manager?.publish(`cmnd/${device.id}/Upgrade`, '1');
      const result = await upgraded;
      if (result === undefined) {
        fail(device, stage, `no UPGRADE answer within ${options.stageTimeoutS} s`);
        return;
      }
      if (result.kind === 'upgrade' && !result.ok) {
        if (attempt === options.attempts) fail(device, stage, `${result.text} (after ${attempt} attempts)`);
        continue;
      }
      // Successful: the device restarts; its INFO1 says what it booted.
      const booted = await nextEvent(device, (event) => event.kind === 'info', deadline);
      if (booted === undefined || booted.kind !== 'info') {
        fail(device, stage, 'did not come back after the restart');
        return;
      }
      if (booted.version === NEW) {
        Object.assign(device.report, {
          stage,
          downloaded: true,
          verified: true,
          rebootedInto: NEW,
          outcome: 'updated',
        });
      }
      // Still on the old version: outside this stage (304), it waits for the next.
      return;
    }
  }

  /**
   * A stage of the poll fleet: the devices the server now places in the stage fetch the new
   * version on their next check; each ends when it boots it, or after `attempts` failed checks.
   */
  async function pollStage(pending: Device[], percent: number, stage: number): Promise<void> {
    const inStage = pending.filter((device) => inRollout(device.mac, percent));
    for (const device of inStage) device.failures = 0;
    await waitFor(
      () => inStage.every((device) => device.version === NEW || device.failures >= options.attempts),
      options.stageTimeoutS * 1000,
    );
    for (const device of inStage) {
      if (device.version === NEW)
        Object.assign(device.report, {
          stage,
          downloaded: true,
          verified: true,
          rebootedInto: NEW,
          outcome: 'updated',
        });
      else
        fail(
          device,
          stage,
          device.failures >= options.attempts
            ? `${device.lastFailure} (after ${device.failures} checks)`
            : `not on ${NEW} within ${options.stageTimeoutS} s`,
        );
    }
  }

  function fail(device: Device, stage: number, why: string): void {
    Object.assign(device.report, { stage, outcome: 'failed', why, rebootedInto: device.version });
  }
}

function nextEvent(
  device: Device,
  wanted: (event: DeviceEvent) => boolean,
  deadline: number,
): Promise<DeviceEvent | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(
      () => {
        device.waiter = undefined;
        resolve(undefined);
      },
      Math.max(0, deadline - Date.now()),
    );
    device.waiter = (event) => {
      if (!wanted(event)) return;
      clearTimeout(timer);
      device.waiter = undefined;
      resolve(event);
    };
  });
}

/** The fleet manager's MQTT session: it hears every device's INFO1 and UPGRADE answers. */
async function connectManager(brokerUrl: string, byId: Map<string, Device>): Promise<MqttClient> {
  const client = mqttConnect(brokerUrl, { clientId: `fleet-manager-${process.pid}`, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('message', (topic, payload) => {
    const [kind, id, leaf] = topic.split('/');
    const device = id === undefined ? undefined : byId.get(id);
    if (device === undefined) return;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return;
    }
    if (kind === 'tele' && leaf === 'INFO1') {
      const version = String((body.Info1 as { Version?: unknown } | undefined)?.Version ?? '').replace(
        /\(.*$/,
        '',
      );
      device.version = version;
      device.waiter?.({ kind: 'info', version });
    } else if (kind === 'stat' && leaf === 'UPGRADE') {
      const text = String(body.Upgrade ?? '');
      device.waiter?.({ kind: 'upgrade', ok: text.startsWith('Successful'), text });
    }
  });
  await client.subscribeAsync(['tele/+/INFO1', 'stat/+/UPGRADE'], { qos: 0 });
  return client;
}

/** True once `condition` holds; false when `timeoutMs` passed first. */
async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
