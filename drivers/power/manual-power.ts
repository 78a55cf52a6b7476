import { closeSync, createReadStream, createWriteStream, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkOffMs } from './emulator-control-power.ts';
import { PowerTimeoutError, PowerUsageError } from './errors.ts';
import { DEFAULT_OFF_MS, type PowerCapability, type PowerDriver } from './power-driver.ts';

/** A person at the bench: where the prompts go and where Enter comes from. */
export interface ManualTerminal {
  input: Readable;
  output: Writable;
  close(): void;
}

export interface ManualPowerOptions {
  targetName: string;
  /** How long a cycle stays off at least (the rig's `offTimeMs`) when the caller names none. */
  offMs?: number;
  /** How long to wait for the person to press Enter before giving up. Default 5 minutes. */
  promptTimeoutMs?: number;
  /** Where to ask. Default: the controlling terminal (/dev/tty), opened on first use. */
  terminal?: ManualTerminal;
}

const DEFAULT_PROMPT_TIMEOUT_MS = 300_000;

/**
 * Why manual power cannot be used in this process, or undefined when it can: a CI job has nobody
 * to press Enter, and a run without a controlling terminal has nowhere to ask.
 */
export function manualPowerRefusal(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const ci = env.CI;
  if (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') {
    return `power type 'manual' needs a person at the bench; refused under CI (CI=${ci})`;
  }
  try {
    closeSync(openSync('/dev/tty', 'r+'));
    return undefined;
  } catch (error) {
    return `power type 'manual' needs a person at a terminal; this run has none (/dev/tty: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
}

/** The controlling terminal, even when stdin is a pipe or this is a worker thread. */
function controllingTerminal(): ManualTerminal {
  const fd = openSync('/dev/tty', 'r+');
  const input = createReadStream('', { fd, autoClose: false });
  const output = createWriteStream('', { fd, autoClose: false });
  return {
    input,
    output,
    close: () => {
      input.destroy();
      output.destroy();
      closeSync(fd);
    },
  };
}

/**
 * Power switched by a person: each step prints what to do on the terminal and waits for Enter.
 * A cycle waits at least the off time between "off" and "on" before asking for "on".
 */
export class ManualPower implements PowerDriver {
  readonly targetName: string;
  readonly capabilities: ReadonlySet<PowerCapability> = new Set(['power-cycle']);
  private readonly defaultOffMs: number;
  private readonly promptTimeoutMs: number;
  private terminal: ManualTerminal | undefined;

  constructor(private readonly options: ManualPowerOptions) {
    this.targetName = options.targetName;
    this.defaultOffMs = options.offMs ?? DEFAULT_OFF_MS;
    this.promptTimeoutMs = options.promptTimeoutMs ?? DEFAULT_PROMPT_TIMEOUT_MS;
    if (!Number.isInteger(this.promptTimeoutMs) || this.promptTimeoutMs <= 0) {
      throw new PowerUsageError(`target '${this.targetName}': promptTimeoutMs must be a positive integer`);
    }
  }

  on(): Promise<void> {
    return this.ask('power on', 'switch the power ON');
  }

  off(): Promise<void> {
    return this.ask('power off', 'switch the power OFF');
  }

  async cycle(offMs = this.defaultOffMs): Promise<void> {
    checkOffMs(offMs, this.targetName);
    await this.ask('power cycle: off', 'switch the power OFF');
    const offAt = Date.now();
    await sleep(offMs);
    await this.ask(
      'power cycle: on',
      `keep it off for at least ${offMs} ms (${Date.now() - offAt} ms so far), then switch the power ON`,
    );
  }

  /** Releases the terminal. */
  close(): void {
    this.terminal?.close();
    this.terminal = undefined;
  }

  private async ask(step: string, instruction: string): Promise<void> {
    this.terminal ??= this.options.terminal ?? controllingTerminal();
    const { input, output } = this.terminal;
    output.write(`\n[ota-conformance] target ${this.targetName}: ${instruction}, then press Enter: `);
    const lines = createInterface({ input, terminal: false });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new PowerTimeoutError(
              `target '${this.targetName}': step '${step}': nobody pressed Enter within ${this.promptTimeoutMs} ms`,
              this.targetName,
              step,
              this.promptTimeoutMs,
            ),
          );
        }, this.promptTimeoutMs);
        lines.once('line', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } finally {
      lines.close();
    }
  }
}
