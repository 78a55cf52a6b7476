import { setTimeout as sleep } from 'node:timers/promises';
import { checkOffMs, parseBaseUrl } from './emulator-control-power.ts';
import { PowerStateError } from './errors.ts';
import { basicAuthorization, httpStep } from './http-step.ts';
import {
  DEFAULT_OFF_MS,
  DEFAULT_STEP_TIMEOUT_MS,
  type PowerCapability,
  type PowerDriver,
} from './power-driver.ts';

export interface SmartPlugOptions {
  targetName: string;
  /** The plug's base URL, e.g. http://192.168.1.40 (an emulator's control plane in CI). */
  url: string;
  username?: string;
  password?: string;
  timeoutMs?: number;
  /** How long a cycle stays off when the caller names no time: the rig's `offTimeMs`. */
  offMs?: number;
}

/**
 * A smart plug switched over HTTP. A plug has no byte-exact cut and no reset line: it only
 * switches the supply, and cycle() is off, a client-side wait, on.
 */
abstract class SmartPlugPower implements PowerDriver {
  readonly targetName: string;
  readonly capabilities: ReadonlySet<PowerCapability> = new Set(['power-cycle']);
  protected readonly base: URL;
  protected readonly username: string | undefined;
  protected readonly password: string | undefined;
  protected readonly timeoutMs: number;
  private readonly defaultOffMs: number;

  constructor(options: SmartPlugOptions) {
    this.targetName = options.targetName;
    this.base = parseBaseUrl(options.url, options.targetName);
    this.username = options.username;
    this.password = options.password;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    this.defaultOffMs = options.offMs ?? DEFAULT_OFF_MS;
  }

  on(): Promise<void> {
    return this.switchTo(true, 'power on');
  }

  off(): Promise<void> {
    return this.switchTo(false, 'power off');
  }

  async cycle(offMs = this.defaultOffMs): Promise<void> {
    checkOffMs(offMs, this.targetName);
    await this.switchTo(false, 'power cycle: off');
    await sleep(offMs);
    await this.switchTo(true, 'power cycle: on');
  }

  /** Reads the relay without switching it. */
  async state(): Promise<'on' | 'off'> {
    const step = 'read the power state';
    const on = await this.readState(step);
    if (on === undefined) throw this.unreadable(step);
    return on ? 'on' : 'off';
  }

  protected abstract switchTo(on: boolean, step: string): Promise<void>;

  /** The relay's state as the plug reports it; undefined when the answer does not say. */
  protected abstract readState(step: string): Promise<boolean | undefined>;

  private unreadable(step: string): PowerStateError {
    return new PowerStateError(
      `target '${this.targetName}': step '${step}': the plug's answer does not say whether it is on`,
      this.targetName,
      step,
    );
  }

  protected async get(step: string, path: string, query: Record<string, string>): Promise<unknown> {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const answer = await httpStep({
      targetName: this.targetName,
      step,
      method: 'GET',
      url,
      timeoutMs: this.timeoutMs,
      headers: this.authorizationHeaders(),
      secrets: [this.password],
    });
    return answer.body;
  }

  protected authorizationHeaders(): Record<string, string> {
    if (this.password === undefined) return {};
    return { authorization: basicAuthorization(this.username ?? 'admin', this.password) };
  }

  protected mismatch(step: string, wanted: boolean, answer: unknown): PowerStateError {
    return new PowerStateError(
      `target '${this.targetName}': step '${step}': asked the plug for ${wanted ? 'on' : 'off'}, its answer does not say so: ${JSON.stringify(answer)}`,
      this.targetName,
      step,
    );
  }
}

export interface TasmotaOptions extends SmartPlugOptions {
  /** Relay number for multi-relay devices; 1 (the default) also answers as plain POWER. */
  relay?: number;
}

/** Tasmota's `/cm?cmnd=Power On`; the web password travels as `user=…&password=…`. */
export class TasmotaPower extends SmartPlugPower {
  private readonly relay: number;

  constructor(options: TasmotaOptions) {
    super(options);
    this.relay = options.relay ?? 1;
  }

  protected override async switchTo(on: boolean, step: string): Promise<void> {
    const query: Record<string, string> = {};
    if (this.password !== undefined) {
      query['user'] = this.username ?? 'admin';
      query['password'] = this.password;
    }
    query['cmnd'] = `Power${this.relay === 1 ? '' : this.relay} ${on ? 'On' : 'Off'}`;
    const answer = await this.get(step, '/cm', query);
    if (this.relayState(answer) !== (on ? 'ON' : 'OFF')) throw this.mismatch(step, on, answer);
  }

  /** `Power<n>` without a value is Tasmota's query: it answers the state and switches nothing. */
  protected override async readState(step: string): Promise<boolean | undefined> {
    const query: Record<string, string> = {};
    if (this.password !== undefined) {
      query['user'] = this.username ?? 'admin';
      query['password'] = this.password;
    }
    query['cmnd'] = `Power${this.relay === 1 ? '' : this.relay}`;
    const state = this.relayState(await this.get(step, '/cm', query));
    return state === 'ON' ? true : state === 'OFF' ? false : undefined;
  }

  private relayState(answer: unknown): unknown {
    const body = (answer ?? {}) as Record<string, unknown>;
    return body[`POWER${this.relay}`] ?? (this.relay === 1 ? body['POWER'] : undefined);
  }

  protected override authorizationHeaders(): Record<string, string> {
    return {};
  }
}

/** Shelly Gen1: `/relay/0?turn=on`, Basic auth; the answer's `ison` is the new state. */
export interface ShellyOptions extends SmartPlugOptions {
  /** Which relay (Gen1 `/relay/<n>`) or switch (Gen2 `id`) on a multi-channel device; 0 by default. */
  channel?: number;
}

export class ShellyGen1Power extends SmartPlugPower {
  private readonly relay: number;

  constructor(options: ShellyOptions) {
    super(options);
    this.relay = options.channel ?? 0;
  }

  protected override async switchTo(on: boolean, step: string): Promise<void> {
    const answer = await this.get(step, `/relay/${this.relay}`, { turn: on ? 'on' : 'off' });
    if ((answer as { ison?: unknown } | undefined)?.ison !== on) throw this.mismatch(step, on, answer);
  }

  protected override async readState(step: string): Promise<boolean | undefined> {
    const ison = ((await this.get(step, `/relay/${this.relay}`, {})) as { ison?: unknown } | undefined)?.ison;
    return typeof ison === 'boolean' ? ison : undefined;
  }
}

/**
 * Shelly Gen2 RPC over HTTP GET. Switch.Set answers only `was_on`, so the new state is read
 * back with Switch.GetStatus.
 */
export class ShellyGen2Power extends SmartPlugPower {
  private readonly id: string;

  constructor(options: ShellyOptions) {
    super(options);
    this.id = String(options.channel ?? 0);
  }

  protected override async switchTo(on: boolean, step: string): Promise<void> {
    const set = await this.get(step, '/rpc/Switch.Set', { id: this.id, on: String(on) });
    if (typeof (set as { was_on?: unknown } | undefined)?.was_on !== 'boolean') {
      throw this.mismatch(step, on, set);
    }
    const status = await this.get(`${step}: read back`, '/rpc/Switch.GetStatus', { id: this.id });
    if ((status as { output?: unknown } | undefined)?.output !== on) throw this.mismatch(step, on, status);
  }

  protected override async readState(step: string): Promise<boolean | undefined> {
    const status = await this.get(step, '/rpc/Switch.GetStatus', { id: this.id });
    const output = (status as { output?: unknown } | undefined)?.output;
    return typeof output === 'boolean' ? output : undefined;
  }
}
