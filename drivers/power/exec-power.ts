import { setTimeout as sleep } from 'node:timers/promises';
import { checkOffMs } from './emulator-control-power.ts';
import { PowerCommandError, PowerTimeoutError, PowerUsageError } from './errors.ts';
import {
  DEFAULT_OFF_MS,
  DEFAULT_STEP_TIMEOUT_MS,
  type PowerCapability,
  type PowerDriver,
} from './power-driver.ts';

export interface ExecPowerOptions {
  targetName: string;
  /** Shell commands from the rig file (a USB hub's uhubctl call, a relay board's CLI…). */
  on: string;
  off: string;
  /**
   * Optional single command for a cycle; it gets the off time as OTA_POWER_OFF_MS. Without it
   * cycle() runs off, waits, runs on.
   */
  cycle?: string;
  /** Per command. A command still running then is killed with its whole process tree. */
  timeoutMs?: number;
  /** How long a cycle stays off when the caller names no time: the rig's `offTimeMs`. */
  offMs?: number;
  /** Applied to captured output before it is kept or put in an error (a hub's password). */
  redact?: (text: string) => string;
  cwd?: string;
  env?: Readonly<Record<string, string>>;
}

export interface CommandRecord {
  step: string;
  command: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

const OUTPUT_IN_ERRORS = 500;

/** Power by rig-given shell commands, run with zx. */
export class ExecPower implements PowerDriver {
  readonly targetName: string;
  readonly capabilities: ReadonlySet<PowerCapability> = new Set(['power-cycle']);
  private readonly options: ExecPowerOptions;
  private readonly timeoutMs: number;
  private readonly redact: (text: string) => string;
  private readonly records: CommandRecord[] = [];

  constructor(options: ExecPowerOptions) {
    for (const name of ['on', 'off'] as const) {
      if (typeof options[name] !== 'string' || options[name].trim() === '') {
        throw new PowerUsageError(
          `target '${options.targetName}': exec power needs a non-empty '${name}' command`,
        );
      }
    }
    this.options = options;
    this.targetName = options.targetName;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    this.redact = options.redact ?? ((text) => text);
  }

  /** Every command run so far with its (redacted) output, for the run's attachments. */
  get commandLog(): readonly CommandRecord[] {
    return this.records;
  }

  async on(): Promise<void> {
    await this.run('power on', this.options.on, {});
  }

  async off(): Promise<void> {
    await this.run('power off', this.options.off, {});
  }

  async cycle(offMs = this.options.offMs ?? DEFAULT_OFF_MS): Promise<void> {
    checkOffMs(offMs, this.targetName);
    if (this.options.cycle !== undefined) {
      await this.run('power cycle', this.options.cycle, { OTA_POWER_OFF_MS: String(offMs) }, offMs);
      return;
    }
    await this.run('power cycle: off', this.options.off, {});
    await sleep(offMs);
    await this.run('power cycle: on', this.options.on, {});
  }

  private async run(step: string, command: string, env: Record<string, string>, extraMs = 0): Promise<void> {
    const timeoutMs = this.timeoutMs + extraMs;
    const startedAt = Date.now();
    // zx loads on the first command: most targets never power through a shell.
    const { $ } = await import('zx');
    const shell = $({
      quiet: true,
      nothrow: true,
      verbose: false,
      ...(this.options.cwd === undefined ? {} : { cwd: this.options.cwd }),
      env: { ...process.env, ...this.options.env, ...env },
    });
    // The rig's command is a whole shell line, not a template with arguments to quote.
    const pieces = Object.assign([command], { raw: [command] }) as TemplateStringsArray;
    const child = shell(pieces);
    let killing: Promise<void> | undefined;
    const timer = setTimeout(() => {
      // zx kills the process group and every descendant, so `sleep` under `sh -c` dies too.
      killing = child.kill('SIGKILL').catch(() => {});
    }, timeoutMs);
    let output: Awaited<typeof child>;
    try {
      output = await child;
    } finally {
      clearTimeout(timer);
    }
    const timedOut = killing !== undefined;
    // The shell can die before the descendants it left behind; wait until all were signalled.
    if (killing !== undefined) await killing;
    const record: CommandRecord = {
      step,
      command: this.redact(command),
      exitCode: output.exitCode,
      signal: output.signal,
      stdout: this.redact(output.stdout),
      stderr: this.redact(output.stderr),
      durationMs: Date.now() - startedAt,
    };
    this.records.push(record);
    if (timedOut) {
      throw new PowerTimeoutError(
        `target '${this.targetName}': step '${step}': command did not finish within ${timeoutMs} ms and was killed: ${record.command}`,
        this.targetName,
        step,
        timeoutMs,
      );
    }
    if (output.exitCode !== 0) {
      const said = (record.stderr.trim() || record.stdout.trim()).slice(-OUTPUT_IN_ERRORS);
      throw new PowerCommandError(
        `target '${this.targetName}': step '${step}': command exited with ${output.exitCode ?? output.signal}: ${record.command}${said === '' ? '' : `\n${said}`}`,
        this.targetName,
        step,
        output.exitCode,
      );
    }
  }
}
