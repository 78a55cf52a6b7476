import type { Target } from '../../drivers/target/index.ts';
import type {
  RecordedRequest,
  Routes,
  Script,
  StartedUpdateServer,
} from '../../drivers/update-server/index.ts';
import { writeSketchDescriptor } from '../../fixtures/esp8266-sketch/index.ts';
import { buildEsp32Image, buildEsp8266Image, patchChipId } from '../../fixtures/index.ts';
import { cycleOffMs, RigFailure, startRigUpdateServer } from '../framework/index.ts';
import { noRebootWindowMs } from '../framework/strategy/observe.ts';
import { checkCommand } from '../framework/strategy/pull-delivery.ts';
import { rigBootableImage } from '../framework/strategy/rig-images.ts';

/*
 * What the three pull-profile suites (http-update, esp-https-ota, luartos) share: the harness as
 * the device's update server, how a check is triggered, how a reboot and the running image are
 * observed, and the images served. Everything goes through drivers/ and the target, never an
 * emulator object, so the suites run unchanged against a board.
 */

/** A reboot starts with the ROM banner: ESP32 `rst:0x…`, ESP8266 `ets Jan  8 2013,rst cause:…`. */
export const RESET_BANNER = /rst:0x[0-9a-f]+ \(|ets Jan\s+8 2013,rst cause:\d/i;

/** How long the device has to start an exchange (connect, request) or to boot after a restart. */
export function exchangeTimeoutMs(target: Target): number {
  return target.description.limits?.rebootTimeoutMs ?? Math.max(target.stepTimeoutMs, 5_000);
}

/** Unique per run, so a version is never the one the device already runs from an earlier requirement. */
const RUN = Date.now().toString(36).slice(-5);
let versions = 0;
export function freshVersion(label: string): string {
  versions += 1;
  return `${label}-${RUN}-${versions}`.slice(0, 31);
}

export interface PullImage {
  bytes: Uint8Array;
  version: string;
}

/**
 * An app image for the target's chip: an ESP32 app image with its descriptor, or an ESP8266
 * sketch .bin as elf2bin.py lays it out (eboot in the first 4 KiB, the app at 0x1000) carrying
 * the version in a sketch descriptor.
 */
export function appImage(
  target: Target,
  options: { version?: string; size?: number; seed?: number; secureVersion?: number; chip?: number } = {},
): PullImage {
  const version = options.version ?? freshVersion('v');
  const fromRig = rigBootableImage(
    target,
    version,
    options.secureVersion === undefined ? {} : { secureVersion: options.secureVersion },
  );
  if (fromRig)
    return { bytes: options.chip === undefined ? fromRig : patchChipId(fromRig, options.chip), version };
  const seed = options.seed ?? versions + 100;
  const size = options.size ?? 48 * 1024;
  if (target.platform === 'esp8266') {
    const eboot = buildEsp8266Image({ size: 0x800, seed: 0xeb00, flashMode: 'dio', flashSize: '4MB' });
    const app = buildEsp8266Image({ size, seed, flashMode: 'dio', flashSize: '4MB' });
    const bytes = new Uint8Array(0x1000 + app.length).fill(0xaa, 0, 0x1000);
    bytes.set(eboot, 0);
    bytes.set(app, 0x1000);
    writeSketchDescriptor(bytes, { version, projectName: `${target.profile}-suite` });
    return { bytes, version };
  }
  const bytes = buildEsp32Image({
    size,
    seed,
    version,
    projectName: `${target.profile}-suite`,
    secureVersion: options.secureVersion ?? 0,
    ...(options.chip === undefined ? {} : { chip: options.chip }),
  });
  return { bytes, version };
}

/** The path the device asks for (its configured update URL), for routes that must be exact. */
export function devicePath(target: Target): string {
  const url = target.description.options?.updateUrl ?? target.description.updateServer?.publicUrl;
  try {
    return typeof url === 'string' ? new URL(url).pathname : '/firmware.bin';
  } catch {
    return '/firmware.bin';
  }
}

/**
 * The harness' update server for one requirement, at the address the device was told. Every path
 * answers `idle` unless a step sets another script: the answer to the check a device makes at boot.
 */
export class PullSession {
  private constructor(
    readonly target: Target,
    readonly server: StartedUpdateServer,
  ) {}

  static async open(target: Target, idle: Script): Promise<PullSession> {
    const where = target.description.updateServer;
    if (!where?.port) throw new RigFailure(`target ${target.name}: no update server port in the rig`);
    const server = await startRigUpdateServer(target, { ...where, port: where.port }, { '*': idle });
    return new PullSession(target, server);
  }

  async close(): Promise<void> {
    await this.server.stop();
  }

  get requestCount(): number {
    return this.server.requests().length;
  }

  private readonly routed = new Set<string>();

  /** Answers from now on: `routes` for their paths, `script` for any other path (routes set before included). */
  answer(script: Script, routes: Routes = {}): void {
    for (const path of this.routed) if (!(path in routes)) this.server.setScript(path, script);
    this.server.setScript('*', script);
    this.server.setRoutes(routes);
    for (const path of Object.keys(routes)) this.routed.add(path);
  }

  /** Makes the device check for an update: its check command on the console, else a power cycle (it checks at boot). */
  async trigger(step: string): Promise<void> {
    const target = this.target;
    const command = checkCommand(target);
    this.target.transcript.record(step, 'send', target.console ? `console: ${command}` : 'power cycle');
    if (target.console && target.capabilities.has('console')) {
      await target.console.write(`${command}\n`, { step });
    } else if (target.power) {
      await target.power.cycle(cycleOffMs(target));
    } else {
      throw new RigFailure(
        `target ${target.name}: neither a console nor a power switch to trigger an update check`,
      );
    }
  }

  /** The next request from index `from` on (by default: from now). */
  async nextRequest(
    step: string,
    from: number,
    timeoutMs = exchangeTimeoutMs(this.target),
  ): Promise<RecordedRequest> {
    const request = await this.server.waitForRequest((candidate) => candidate.index >= from, {
      timeoutMs,
      step,
    });
    this.target.transcript.record(
      step,
      'receive',
      [request.requestLine, ...request.rawHeaderLines].join('\n'),
    );
    return request;
  }

  /** Sets the answer, triggers a check and returns the device's first request. */
  async check(step: string, script: Script, routes: Routes = {}): Promise<RecordedRequest> {
    const from = this.requestCount;
    this.answer(script, routes);
    await this.trigger(step);
    return await this.nextRequest(step, from);
  }

  /** Waits until the answer to `request` is out (or the exchange was cut). */
  async answered(request: RecordedRequest, step: string): Promise<RecordedRequest> {
    return await this.server.waitForRequest((candidate) => candidate.index === request.index, {
      until: 'ended',
      timeoutMs: exchangeTimeoutMs(this.target),
      step,
    });
  }
}

/** Runs `body` with a fresh update server and stops it whatever happens. */
export async function withPullSession<T>(
  target: Target,
  idle: Script,
  body: (session: PullSession) => Promise<T>,
): Promise<T> {
  const session = await PullSession.open(target, idle);
  try {
    return await body(session);
  } finally {
    await session.close();
  }
}

/**
 * Starts watching the console for `pattern` from now on, before the action that causes it; the
 * returned promise never counts as unhandled if the caller fails first.
 */
export function watchConsole(
  target: Target,
  pattern: RegExp,
  step: string,
  timeoutMs = exchangeTimeoutMs(target),
): Promise<string> {
  if (!target.console) return Promise.reject(new RigFailure(`target ${target.name}: no console`));
  const seen = target.console
    .expect(pattern, { timeoutMs, step, fromNow: true })
    .then((match) => match.line.text);
  seen.catch(() => {});
  return seen;
}

/** Console lines that arrived since index `from`, as text. */
export function consoleSince(target: Target, from: number): string[] {
  return (target.console?.lines() ?? [])
    .slice(from)
    .filter((line) => line.source === 'device')
    .map((line) => line.text);
}

export function consoleMark(target: Target): number {
  return target.console?.lines().length ?? 0;
}

/**
 * Fails through `check` when the device rebooted: a reset banner on the console since `from` or
 * within the watch window. Without a console this cannot be seen, and the caller's checks of what
 * the device runs afterwards stand alone.
 */
export async function expectNoReboot(
  target: Target,
  from: number,
  check: (ok: boolean, expected: string, actual: string) => void,
  why: string,
): Promise<void> {
  if (!target.console) return;
  const window = noRebootWindowMs(target);
  const already = consoleSince(target, from).find((line) => RESET_BANNER.test(line));
  let rebooted = already;
  if (rebooted === undefined) {
    rebooted = await target.console
      .expect(RESET_BANNER, { timeoutMs: window, step: `no reboot ${why}`, fromNow: true })
      .then((match) => match.line.text)
      .catch(() => undefined);
  }
  check(
    rebooted === undefined,
    `no reboot ${why} (watched ${window} ms)`,
    `the device rebooted: ${rebooted}`,
  );
}
