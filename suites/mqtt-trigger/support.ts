import { createHash } from 'node:crypto';
import { beforeEach } from 'vitest';
import type { MqttHarness } from '../../drivers/mqtt/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import {
  firmware,
  type Routes,
  type StartedUpdateServer,
  startUpdateServer,
} from '../../drivers/update-server/index.ts';
import { buildEsp32Image } from '../../fixtures/esp32-image/index.ts';
import { buildEsp8266Image } from '../../fixtures/esp8266-image/index.ts';
import { writeSketchDescriptor } from '../../fixtures/esp8266-sketch/index.ts';
import { currentTarget, type RequirementContext, RigFailure } from '../framework/index.ts';
import { withMqttHarness } from '../framework/strategy/mqtt-delivery.ts';
import { DIALECTS, type Dialect, dialectOf } from '../framework/strategy/mqtt-dialect.ts';

export const REFERENCE = 'docs/protocols/viperhttp-luartos-mqtt.md';

export { DIALECTS, type Dialect, dialectOf };

/** Skips every requirement of the calling suite file, with the reason, on a target of another dialect. */
export function onlyForDialect(dialect: Dialect): void {
  const description = currentTarget();
  // Listing collects the suites with no target: every requirement is listed.
  if (description === undefined) return;
  const spoken = dialectOf(description);
  beforeEach(({ skip }) => {
    if (spoken !== dialect) {
      skip(
        `target ${description.name} speaks the ${spoken ?? 'unknown'} MQTT dialect, not ${dialect} (mqtt.dialect or options.dialect)`,
      );
    }
  });
}

/** Runs `body` with a fresh harness client; a broker that fails is the rig's fault, not the device's. */
export const withMqtt = withMqttHarness;

/** How a dialect's client reaches the device and sees it up, for deviceSession(). */
export interface DeviceUp<Client> {
  attach(target: Target, mqtt: MqttHarness): Client;
  /** The name of the step that waits for the device. */
  upStep: string;
  up(target: Target, mqtt: MqttHarness, client: Client): Promise<void>;
}

/**
 * A runner of requirement bodies: each on a fresh harness session with the dialect's client
 * (under the name `key`), once the device is up.
 */
export function deviceSession<Key extends string, Client>(key: Key, how: DeviceUp<Client>) {
  type Session = RequirementContext & { mqtt: MqttHarness } & Record<Key, Client>;
  return async (context: RequirementContext, body: (session: Session) => Promise<void>): Promise<void> => {
    const { target, step } = context;
    await withMqtt(target, async (mqtt) => {
      const client = how.attach(target, mqtt);
      await step(how.upStep, () => how.up(target, mqtt, client));
      await body({ ...context, mqtt, [key]: client } as Session);
    });
  };
}

export interface UpdateServerHandle {
  server: StartedUpdateServer;
  /** The URL the device is told (the rig's publicUrl when a board cannot reach our bind address). */
  url(path: string): string;
}

/** Starts the update server at the address the rig gives (the one the device's compiled URL names). */
export async function withUpdateServer<T>(
  target: Target,
  routes: Routes,
  body: (handle: UpdateServerHandle) => Promise<T>,
): Promise<T> {
  const config = target.description.updateServer;
  let server: StartedUpdateServer;
  try {
    server = await startUpdateServer({ host: config?.host ?? '127.0.0.1', port: config?.port ?? 0, routes });
  } catch (error) {
    throw new RigFailure(
      `target ${target.name}: cannot start the update server on ${config?.host ?? '127.0.0.1'}:${config?.port ?? 0}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const base = (config?.publicUrl ?? server.url).replace(/\/$/, '');
  try {
    return await body({ server, url: (path) => `${base}${path}` });
  } finally {
    await server.stop();
  }
}

export { firmware };

/** A tag that differs per requirement and per running image, for image bytes and hashes. */
function seedFrom(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}

/**
 * A small valid app image for the target's chip carrying `version`: an ESP32 app (descriptor with
 * version, build date/time and ELF SHA-256) or an Arduino ESP8266 sketch (eboot, app at 0x1000,
 * sketch descriptor).
 */
export function appImage(
  target: Target,
  options: { version: string; tag: string; date?: string; time?: string; appElfSha256?: Uint8Array },
): Uint8Array {
  const seed = seedFrom(`${target.name} ${options.tag} ${options.version}`);
  if (target.platform === 'esp8266') {
    const eboot = buildEsp8266Image({ size: 0x800, seed: 0xeb00 });
    const app = buildEsp8266Image({ size: 40 * 1024, seed });
    const sketch = new Uint8Array(0x1000 + app.length).fill(0xaa, 0, 0x1000);
    sketch.set(eboot, 0);
    sketch.set(app, 0x1000);
    writeSketchDescriptor(sketch, { version: options.version, projectName: 'ota-conformance' });
    return sketch;
  }
  return buildEsp32Image({
    size: 64 * 1024,
    seed,
    version: options.version,
    ...(options.date ? { date: options.date } : {}),
    ...(options.time ? { time: options.time } : {}),
    ...(options.appElfSha256 ? { appElfSha256: options.appElfSha256 } : {}),
  });
}

/** A version newer than `running` in every part-wise comparison (the patch part, then beyond 255 the minor). */
export function newerVersion(running: string): string {
  const parts = running
    .split(/[.(]/)
    .slice(0, 3)
    .map((part) => Number.parseInt(part, 10) || 0);
  while (parts.length < 3) parts.push(0);
  const [major = 0, minor = 0, patch = 0] = parts;
  return patch < 250 ? `${major}.${minor}.${patch + 1}` : `${major}.${minor + 1}.0`;
}

/** A version strictly older than `running`, or undefined when it is 0.0.0. */
export function olderVersion(running: string): string | undefined {
  const parts = running
    .split(/[.(]/)
    .slice(0, 3)
    .map((part) => Number.parseInt(part, 10) || 0);
  const [major = 0, minor = 0, patch = 0] = parts;
  if (patch > 0) return `${major}.${minor}.${patch - 1}`;
  if (minor > 0) return `${major}.${minor - 1}.0`;
  if (major > 0) return `${major - 1}.0.0`;
  return undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `__DATE__` and `__TIME__` for a unix time (the build clock taken as UTC). */
export function buildClock(unixSeconds: number): { date: string; time: string } {
  const at = new Date(unixSeconds * 1000);
  const day = String(at.getUTCDate()).padStart(2, ' ');
  return {
    date: `${MONTHS[at.getUTCMonth()]} ${day} ${at.getUTCFullYear()}`,
    time: at.toISOString().slice(11, 19),
  };
}

/** Console lines since `from` that show a reset or a crash (empty without a console). */
export function resetsSince(target: Target, from: number): string[] {
  const lines = target.console?.lines().slice(from) ?? [];
  return lines
    .filter((line) => line.events.some((event) => event.kind === 'crash' || event.kind.endsWith('-reset')))
    .map((line) => line.text);
}

export function consoleMark(target: Target): number {
  return target.console?.lines().length ?? 0;
}

/** The step timeout for a whole update: trigger, download, flash and restart. */
export function updateTimeoutMs(target: Target, extraMs = 0): number {
  return 3 * target.stepTimeoutMs + extraMs;
}
