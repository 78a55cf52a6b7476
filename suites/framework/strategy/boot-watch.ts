import type { ConsoleLine, SerialConsole } from '../../../drivers/serial/index.ts';
import { type BootFact, bootFacts } from './boot-lines.ts';

/** The part of a console a watch reads: the kept lines and the ones still to come. */
export type WatchedConsole = Pick<SerialConsole, 'lines' | 'onLine'>;

/** One boot as the console showed it: how it started and what it ran. */
export interface SeenBoot {
  platform: 'esp32' | 'esp8266';
  resetCode: number;
  resetReason: string;
  /** Started by the chip itself (esp_restart, eboot's SWRST), not by power or the reset pin. */
  software: boolean;
  version?: string;
  project?: string;
  /** ESP32: where the bootloader loaded the app from. */
  partitionOffset?: number;
  /** ESP8266: eboot's copy result on this boot (0 = copied). */
  ebootCopy?: number;
  /** Index of the reset line in the console log. */
  fromLine: number;
  /** The device lines of this boot so far (for Expected/Actual). */
  lines: string[];
}

export class BootWatchTimeoutError extends Error {
  override readonly name = 'BootWatchTimeoutError';
  readonly code = 'BOOT_WATCH_TIMEOUT';
}

const KEPT_LINES = 40;

/**
 * Folds console lines into boots without consuming them (a later `expect()` still sees every
 * line), from a given line on. A boot counts once it named its app (`App version:` or the
 * profile's own line); a boot that died first stays in `boots` as evidence but is never returned
 * by `next()`.
 */
export class BootWatch {
  readonly boots: SeenBoot[] = [];
  private readonly unsubscribe: () => void;
  private taken = 0;
  private waiter: (() => void) | undefined;

  private constructor(
    console: WatchedConsole,
    private readonly patterns: readonly RegExp[],
    from: number,
  ) {
    for (const line of console.lines().slice(from)) this.fold(line);
    this.unsubscribe = console.onLine((line) => {
      this.fold(line);
      this.waiter?.();
    });
  }

  /** Watches lines from `from` (default: from now). */
  static start(console: WatchedConsole, patterns: readonly RegExp[], from?: number): BootWatch {
    return new BootWatch(console, patterns, from ?? console.lines().length);
  }

  /** The last boot that began at or after the start, complete or not. */
  get latest(): SeenBoot | undefined {
    return this.boots.at(-1);
  }

  /**
   * The next boot (after those already returned) that named its app and passes `accept`. Rejects
   * with BootWatchTimeoutError after `timeoutMs`, naming what the console showed. Once
   * `shorten.when` resolves (the device said it will not reboot), at most `shorten.graceMs` more.
   */
  next(options: {
    timeoutMs: number;
    step: string;
    accept?: (boot: SeenBoot) => boolean;
    shorten?: { when: Promise<unknown>; graceMs: number };
  }): Promise<SeenBoot> {
    const accept = options.accept ?? (() => true);
    const find = (): SeenBoot | undefined => {
      for (let index = this.taken; index < this.boots.length; index++) {
        const boot = this.boots[index]!;
        if (boot.version === undefined) continue;
        if (!accept(boot)) continue;
        this.taken = index + 1;
        return boot;
      }
      return undefined;
    };
    const found = find();
    if (found) return Promise.resolve(found);
    return new Promise<SeenBoot>((resolve, reject) => {
      let settled = false;
      const expire = (waitedFor: string) => () => {
        settled = true;
        this.waiter = undefined;
        reject(
          new BootWatchTimeoutError(`${options.step}: no boot within ${waitedFor} (${this.describe()})`),
        );
      };
      let timer = setTimeout(expire(`${options.timeoutMs} ms`), options.timeoutMs);
      options.shorten?.when.then(() => {
        if (settled) return;
        clearTimeout(timer);
        timer = setTimeout(
          expire(`${options.shorten!.graceMs} ms of the device saying it failed`),
          options.shorten!.graceMs,
        );
      });
      this.waiter = () => {
        const boot = find();
        if (!boot) return;
        settled = true;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(boot);
      };
    });
  }

  /** Resolves true once any boot (complete or not) began, false after `timeoutMs`. */
  whenBooting(timeoutMs: number): Promise<boolean> {
    if (this.boots.length > 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(false);
      }, timeoutMs);
      this.waiter = () => {
        if (this.boots.length === 0) return;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(true);
      };
    });
  }

  /** The boots seen, one line each, for a failure message. */
  describe(): string {
    if (this.boots.length === 0) return 'the console showed no reset line';
    return this.boots.map(describeBoot).join('; ');
  }

  stop(): void {
    this.unsubscribe();
    this.waiter = undefined;
  }

  private fold(line: ConsoleLine): void {
    if (line.source !== 'device') return;
    const facts = bootFacts(line.text, line.events, this.patterns);
    const current = this.boots.at(-1);
    if (current && current.lines.length < KEPT_LINES && !facts.some((fact) => fact.kind === 'reset'))
      current.lines.push(line.text);
    for (const fact of facts) this.apply(fact, line);
  }

  private apply(fact: BootFact, line: ConsoleLine): void {
    if (fact.kind === 'reset') {
      this.boots.push({
        platform: fact.platform,
        resetCode: fact.code,
        resetReason: fact.reason,
        software: fact.software,
        fromLine: line.index,
        lines: [line.text],
      });
      return;
    }
    const current = this.boots.at(-1);
    // Lines before the first reset line belong to a boot whose start the watch did not see.
    if (!current) return;
    if (fact.kind === 'partition') current.partitionOffset = fact.offset;
    else if (fact.kind === 'eboot-copy') current.ebootCopy = fact.result;
    else if (current.version === undefined) {
      current.version = fact.version;
      if (fact.project !== undefined) current.project = fact.project;
    }
  }
}

export function describeBoot(boot: SeenBoot): string {
  const how = `${boot.resetReason}${boot.software ? ' (software)' : ''}`;
  const where = boot.partitionOffset === undefined ? '' : ` from 0x${boot.partitionOffset.toString(16)}`;
  const copy = boot.ebootCopy === undefined ? '' : ` eboot cp:${boot.ebootCopy}`;
  return `${how}${copy} → ${boot.version === undefined ? 'no app named' : `version ${boot.version}`}${where}`;
}
