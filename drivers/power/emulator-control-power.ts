import { PowerStateError, PowerUsageError } from './errors.ts';
import { httpStep } from './http-step.ts';
import {
  DEFAULT_OFF_MS,
  DEFAULT_STEP_TIMEOUT_MS,
  type PowerCapability,
  type PowerDriver,
} from './power-driver.ts';

export interface EmulatorControlPowerOptions {
  targetName: string;
  /** The control plane's base URL, e.g. http://127.0.0.1:40123. */
  url: string;
  token?: string;
  timeoutMs?: number;
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

  constructor(options: EmulatorControlPowerOptions) {
    this.targetName = options.targetName;
    this.base = parseBaseUrl(options.url, options.targetName);
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
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
    const answer = await httpStep({
      targetName: this.targetName,
      step,
      method: 'GET',
      url: new URL('/power', this.base),
      timeoutMs: this.timeoutMs,
      headers: this.token === undefined ? {} : { authorization: `Bearer ${this.token}` },
      secrets: [this.token],
    });
    const power = (answer.body as { power?: unknown } | undefined)?.power;
    if (power !== 'on' && power !== 'off') {
      throw new PowerStateError(
        `target '${this.targetName}': step '${step}': the control plane's answer names no power state: ${JSON.stringify(answer.body)}`,
        this.targetName,
        step,
      );
    }
    return power;
  }

  async cycle(offMs = DEFAULT_OFF_MS): Promise<void> {
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
