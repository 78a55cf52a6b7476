import { PowerStateError, PowerUsageError } from './errors.ts';
import { httpStep } from './http-step.ts';
import {
  DEFAULT_OFF_MS,
  DEFAULT_STEP_TIMEOUT_MS,
  type PowerCapability,
  type PowerDriver,
} from './power-driver.ts';

/** GET /flash/trace (emulators/device/flash-trace.ts), as it comes over the wire. */
export interface EmulatorFlashTrace {
  operations: {
    index: number;
    kind: 'erase-sector' | 'erase-block' | 'program';
    offset: number;
    length: number;
    completed: boolean;
  }[];
  markers: { at: number; kind: 'boot' | 'app' | 'power-off'; detail: string }[];
  count: number;
  /** Named areas of the flash (an ESP32's partitions). */
  regions: { name: string; offset: number; size: number }[];
}

export interface EmulatorControlPowerOptions {
  targetName: string;
  /** The control plane's base URL, e.g. http://127.0.0.1:40123. */
  url: string;
  token?: string;
  timeoutMs?: number;
  /** How long a cycle stays off when the caller names no time: the rig's `offTimeMs`. */
  offMs?: number;
}

/**
 * The emulator's own power API (`/power/on|off|cycle|cut-after`). The only driver that can cut
 * power after an exact number of flash bytes, which is what makes torn-write tests repeatable.
 */
export class EmulatorControlPower implements PowerDriver {
  readonly targetName: string;
  readonly capabilities: ReadonlySet<PowerCapability> = new Set(['power-cycle', 'power-cut-at-byte']);
  private readonly base: URL;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly defaultOffMs: number;

  constructor(options: EmulatorControlPowerOptions) {
    this.targetName = options.targetName;
    this.base = parseBaseUrl(options.url, options.targetName);
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    this.defaultOffMs = options.offMs ?? DEFAULT_OFF_MS;
  }

  async on(): Promise<void> {
    await this.expectPower('power on', '/power/on', {}, 'on');
  }

  async off(): Promise<void> {
    await this.expectPower('power off', '/power/off', {}, 'off');
  }

  /** `GET /power`: the control plane's view of the supply. */
  async state(): Promise<'on' | 'off'> {
    const step = 'read the power state';
    const body = await this.readPower(step);
    const power = body?.power;
    if (power !== 'on' && power !== 'off') {
      throw new PowerStateError(
        `target '${this.targetName}': step '${step}': the control plane's answer names no power state: ${JSON.stringify(body)}`,
        this.targetName,
        step,
      );
    }
    return power;
  }

  async cycle(offMs = this.defaultOffMs): Promise<void> {
    checkOffMs(offMs, this.targetName);
    // The control plane holds the answer for the whole off time.
    await this.expectPower('power cycle', '/power/cycle', { offMs: String(offMs) }, 'on', offMs);
  }

  async cutAfterBytes(bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new PowerUsageError(
        `target '${this.targetName}': cutAfterBytes needs a non-negative integer, got ${bytes}`,
      );
    }
    const step = `arm a power cut after ${bytes} bytes`;
    const answer = await this.post(step, '/power/cut-after', { bytes: String(bytes) });
    const body = answer as { cutAfterBytes?: unknown } | undefined;
    if (body?.cutAfterBytes !== bytes) {
      throw new PowerStateError(
        `target '${this.targetName}': step '${step}': the control plane did not confirm the cut: ${JSON.stringify(answer)}`,
        this.targetName,
        step,
      );
    }
  }

  /** Arms a cut: `operations` more erases/page programs complete and the next one is torn. */
  async cutAfterOperations(operations: number, tornSeed?: number): Promise<void> {
    if (!Number.isSafeInteger(operations) || operations < 0) {
      throw new PowerUsageError(
        `target '${this.targetName}': cutAfterOperations needs a non-negative integer, got ${operations}`,
      );
    }
    const step = `arm a power cut after ${operations} flash operations`;
    const query: Record<string, string> = { operations: String(operations) };
    if (tornSeed !== undefined) query.tornSeed = String(tornSeed >>> 0);
    const answer = (await this.post(step, '/power/cut-after', query)) as { cutAfterOperations?: unknown };
    if (answer?.cutAfterOperations !== operations) {
      throw new PowerStateError(
        `target '${this.targetName}': step '${step}': the control plane did not confirm the cut: ${JSON.stringify(answer)}`,
        this.targetName,
        step,
      );
    }
  }

  /**
   * Arms a cut in the transfer: the power goes as the `bytes`-th image byte from now reaches the
   * emulated firmware from the network (its flash trace then holds a `power-off` marker
   * `received <bytes>, <taken> taken`).
   */
  async cutAfterReceived(bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 1) {
      throw new PowerUsageError(
        `target '${this.targetName}': cutAfterReceived needs an integer ≥ 1, got ${bytes}`,
      );
    }
    const step = `arm a power cut at ${bytes} received image bytes`;
    const answer = (await this.post(step, '/power/cut-after', { received: String(bytes) })) as {
      cutAfterReceived?: unknown;
    };
    if (answer?.cutAfterReceived !== bytes) {
      throw new PowerStateError(
        `target '${this.targetName}': step '${step}': the control plane did not confirm the cut: ${JSON.stringify(answer)}`,
        this.targetName,
        step,
      );
    }
  }

  /** The emulated chip's own state from GET /power (`halted`: its last boot found nothing to run). */
  async chipState(): Promise<string | undefined> {
    const chip = (await this.readPower('read the chip state'))?.chip;
    return typeof chip === 'string' ? chip : undefined;
  }

  /** Whether the emulator has power now (GET /power). */
  async isOn(): Promise<boolean> {
    return (await this.readPower('read the power state'))?.power === 'on';
  }

  /** GET /power: `{ power, chip? }`. */
  private async readPower(step: string): Promise<{ power?: unknown; chip?: unknown } | undefined> {
    const answer = await httpStep({
      targetName: this.targetName,
      step,
      method: 'GET',
      url: new URL('/power', this.base),
      timeoutMs: this.timeoutMs,
      headers: this.token === undefined ? {} : { authorization: `Bearer ${this.token}` },
      secrets: [this.token],
    });
    return answer.body as { power?: unknown; chip?: unknown } | undefined;
  }

  /** The emulator's numbered flash operations and boots from operation `since` on. */
  async flashTrace(since = 0): Promise<EmulatorFlashTrace> {
    const url = new URL('/flash/trace', this.base);
    url.searchParams.set('since', String(since));
    const answer = await httpStep({
      targetName: this.targetName,
      step: 'read the flash trace',
      method: 'GET',
      url,
      timeoutMs: this.timeoutMs,
      headers: this.token === undefined ? {} : { authorization: `Bearer ${this.token}` },
      secrets: [this.token],
    });
    return answer.body as EmulatorFlashTrace;
  }

  /** Keeps the emulator's flash, NVS and RTC memory; returns the number to restore it by. */
  async saveState(): Promise<number> {
    const answer = (await this.post('save the device state', '/state/save', {})) as { state?: unknown };
    if (typeof answer?.state !== 'number')
      throw new PowerStateError(
        `target '${this.targetName}': the control plane did not save a state: ${JSON.stringify(answer)}`,
        this.targetName,
        'save the device state',
      );
    return answer.state;
  }

  /** Puts a saved state back (the device must be off). */
  async restoreState(state: number): Promise<void> {
    await this.post(`restore device state ${state}`, '/state/restore', { state: String(state) });
  }

  private async expectPower(
    step: string,
    path: string,
    query: Record<string, string>,
    wanted: 'on' | 'off',
    extraMs = 0,
  ): Promise<void> {
    const answer = await this.post(step, path, query, extraMs);
    const power = (answer as { power?: unknown } | undefined)?.power;
    if (power !== wanted) {
      throw new PowerStateError(
        `target '${this.targetName}': step '${step}': expected the control plane to report power ${wanted}, it answered ${JSON.stringify(answer)}`,
        this.targetName,
        step,
      );
    }
  }

  private async post(
    step: string,
    path: string,
    query: Record<string, string>,
    extraMs = 0,
  ): Promise<unknown> {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const answer = await httpStep({
      targetName: this.targetName,
      step,
      method: 'POST',
      url,
      timeoutMs: this.timeoutMs + extraMs,
      headers: this.token === undefined ? {} : { authorization: `Bearer ${this.token}` },
      secrets: [this.token],
    });
    return answer.body;
  }
}

export function parseBaseUrl(url: string, targetName: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PowerUsageError(`target '${targetName}': power url '${url}' is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new PowerUsageError(
      `target '${targetName}': power url must be http or https, got ${parsed.protocol}`,
    );
  }
  return parsed;
}

export function checkOffMs(offMs: number, targetName: string): void {
  if (!Number.isInteger(offMs) || offMs < 0) {
    throw new PowerUsageError(
      `target '${targetName}': cycle offMs must be a non-negative integer, got ${offMs}`,
    );
  }
}
