import type { Target } from '../../../drivers/target/index.ts';
import { bootVersionPatterns } from './boot-lines.ts';
import { BootWatch, describeBoot, type SeenBoot } from './boot-watch.ts';
import { StrategyUnsupportedError } from './errors.ts';
import { withViperClient } from './viper-client.ts';

/** Which image a target runs, as far as the console or its status says. */
export interface RunningImage {
  version?: string;
  project?: string;
  /** ESP32: the app partition's flash offset (the bootloader's `Loaded app from partition at offset`). */
  partitionOffset?: number;
  /** The partition's label, where a status names it. */
  partitionLabel?: string;
  source: 'console' | 'status';
  /** What it was read from, in one line, for Expected/Actual. */
  evidence: string;
}

export function fromBoot(boot: SeenBoot): RunningImage {
  return {
    ...(boot.version === undefined ? {} : { version: boot.version }),
    ...(boot.project === undefined ? {} : { project: boot.project }),
    ...(boot.partitionOffset === undefined ? {} : { partitionOffset: boot.partitionOffset }),
    source: 'console',
    evidence: describeBoot(boot),
  };
}

/** `version 2.0.0 at 0x1d0000` or the partition only, for messages. */
export function describeImage(image: RunningImage | undefined): string {
  if (image === undefined) return 'nothing (no boot seen)';
  const where =
    image.partitionLabel ??
    (image.partitionOffset === undefined ? undefined : `0x${image.partitionOffset.toString(16)}`);
  const what = image.version === undefined ? 'an image' : `version ${image.version}`;
  return where === undefined ? what : `${what} from ${where}`;
}

/**
 * Whether two observations name the same image: by version where both have one, else by the
 * partition. Undefined when they share nothing to compare.
 */
export function sameImage(a: RunningImage, b: RunningImage): boolean | undefined {
  if (a.version !== undefined && b.version !== undefined) return a.version === b.version;
  if (a.partitionOffset !== undefined && b.partitionOffset !== undefined)
    return a.partitionOffset === b.partitionOffset;
  if (a.partitionLabel !== undefined && b.partitionLabel !== undefined)
    return a.partitionLabel === b.partitionLabel;
  return undefined;
}

export interface RunningImageOptions {
  timeoutMs: number;
  /** Only boots whose reset line is at or after this console index count (default: any kept line). */
  since?: number;
}

/**
 * What runs now: the last boot in the console log (waiting up to `timeoutMs` for it to name its
 * app when it is still booting) — ESP32 `App version:` and `Loaded app from partition at
 * offset`, an ESP8266 sketch's own boot line per profile. Without a boot on the console, the
 * profile's status where it has one (the ViperHTTP status JSON: the running partition).
 */
export async function runningImage(target: Target, options: RunningImageOptions): Promise<RunningImage> {
  const console = target.console && target.capabilities.has('console') ? target.console : undefined;
  if (console) {
    const patterns = bootVersionPatterns(target);
    const scan = BootWatch.start(console, patterns, options.since ?? 0);
    const latest = scan.latest;
    scan.stop();
    if (latest?.version !== undefined) return fromBoot(latest);
    if (latest) {
      const watch = BootWatch.start(console, patterns, latest.fromLine);
      try {
        return fromBoot(await watch.next({ timeoutMs: options.timeoutMs, step: 'read the running image' }));
      } catch (error) {
        if (!hasStatus(target)) throw error;
      } finally {
        watch.stop();
      }
    }
  }
  if (hasStatus(target)) return await statusImage(target);
  throw new StrategyUnsupportedError(
    `target ${target.name}: cannot tell which image runs: ${console ? 'no boot on the console since it opened' : 'no console'} and the ${target.profile} profile has no status to ask; restart the target first`,
  );
}

function hasStatus(target: Target): boolean {
  return (
    (target.profile === 'viperhttp' || target.profile === 'viperhttp-doc') &&
    target.description.url !== undefined
  );
}

async function statusImage(target: Target): Promise<RunningImage> {
  const status = await withViperClient(target, (client) => client.status('status (running image)'));
  const running = status.running_partition ?? undefined;
  const address = running?.address;
  return {
    ...(running?.label === undefined ? {} : { partitionLabel: running.label }),
    ...(typeof address === 'number' ? { partitionOffset: address } : {}),
    source: 'status',
    evidence: `status running_partition ${JSON.stringify(running ?? null)}`,
  };
}
