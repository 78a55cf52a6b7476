import type { MqttHarness } from './mqtt-harness.ts';

/**
 * Tasmota's OTA commands (reference/viperhttp-luartos-mqtt.md §3.2) with the default FullTopic
 * `%prefix%/%topic%/`: commands on `cmnd/<topic>/<Command>`, replies on `stat/<topic>/RESULT`,
 * the outcome on `stat/<topic>/UPGRADE`, the last will on `tele/<topic>/LWT`.
 */
export class TasmotaTrigger {
  readonly resultTopic: string;
  readonly upgradeTopic: string;
  readonly lwtTopic: string;

  constructor(
    private readonly harness: MqttHarness,
    readonly topic: string,
  ) {
    this.resultTopic = `stat/${topic}/RESULT`;
    this.upgradeTopic = `stat/${topic}/UPGRADE`;
    this.lwtTopic = `tele/${topic}/LWT`;
  }

  /** Publishes `cmnd/<topic>/<command>` and returns the log mark from just before it. */
  async command(command: string, argument: string, step = `${command} ${argument}`): Promise<number> {
    await this.harness.subscribe(`stat/${this.topic}/#`, step);
    const mark = this.harness.mark();
    await this.harness.publish(`cmnd/${this.topic}/${command}`, argument, { step });
    return mark;
  }

  /** `OtaUrl <url>`; resolves with the URL the device reports back in `{"OtaUrl":…}`. */
  async setOtaUrl(url: string, options: { timeoutMs?: number } = {}): Promise<string> {
    const step = `OtaUrl ${url}`;
    const since = await this.command('OtaUrl', url, step);
    const reply = await this.expectResult('OtaUrl', { since, step, ...options });
    return reply;
  }

  /** `Upgrade <argument>`; resolves with the immediate `{"Upgrade":…}` reply text. */
  async upgrade(
    argument: string,
    options: { timeoutMs?: number } = {},
  ): Promise<{ reply: string; since: number }> {
    const step = `Upgrade ${argument}`;
    const since = await this.command('Upgrade', argument, step);
    const reply = await this.expectResult('Upgrade', { since, step, ...options });
    return { reply, since };
  }

  /** Waits for `{"<key>":…}` on `stat/<topic>/RESULT` and returns that value as text. */
  async expectResult(
    key: string,
    options: { since?: number; timeoutMs?: number; step?: string } = {},
  ): Promise<string> {
    const message = await this.harness.expectMessage(
      this.resultTopic,
      (candidate) => jsonField(candidate.text, key) !== undefined,
      { step: `wait for {"${key}":…} on ${this.resultTopic}`, ...options },
    );
    return jsonField(message.text, key)!;
  }

  /** Waits for the download outcome `{"Upgrade":"Successful. Restarting"}` or `{"Upgrade":"Failed …"}`. */
  async expectUpgradeOutcome(
    options: { since?: number; timeoutMs?: number; step?: string } = {},
  ): Promise<string> {
    const message = await this.harness.expectMessage(
      this.upgradeTopic,
      (candidate) => jsonField(candidate.text, 'Upgrade') !== undefined,
      { step: `wait for the outcome on ${this.upgradeTopic}`, ...options },
    );
    return jsonField(message.text, 'Upgrade')!;
  }

  /**
   * The running version from `Status 2` (`{"StatusFWR":{"Version":"13.4.0(tasmota)"}}`), with the
   * build variant in parentheses removed.
   */
  async runningVersion(options: { timeoutMs?: number; since?: number } = {}): Promise<string> {
    const step = 'Status 2 (firmware version)';
    const since = await this.command('Status', '2', step);
    const message = await this.harness.expectMessage(
      `stat/${this.topic}/STATUS2`,
      (candidate) => statusVersion(candidate.text) !== undefined,
      { step, since: options.since ?? since, timeoutMs: options.timeoutMs },
    );
    return statusVersion(message.text)!;
  }
}

/** The `Version` of a STATUS2 payload without its `(variant)` suffix. */
export function statusVersion(text: string): string | undefined {
  try {
    const value = JSON.parse(text) as { StatusFWR?: { Version?: unknown } };
    const version = value.StatusFWR?.Version;
    return typeof version === 'string' ? version.replace(/\(.*\)$/, '') : undefined;
  } catch {
    return undefined;
  }
}

function jsonField(text: string, key: string): string | undefined {
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    const field = value?.[key];
    return typeof field === 'string' ? field : field === undefined ? undefined : JSON.stringify(field);
  } catch {
    return undefined;
  }
}
