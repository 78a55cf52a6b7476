import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { acquireTargetLease, connectTarget, type Target } from '../../drivers/target/index.ts';
import type { FlashTimingProfileName } from '../../emulators/flash/index.ts';
import { type LoadedTarget, loadRig } from '../../rigs/index.ts';
import { startTargets } from '../../suites/runner/start-targets.ts';
import { BenchImages } from './bench-images.ts';
import { espotaMeasurer } from './espota-measurer.ts';
import {
  type BenchClient,
  BenchUsageError,
  type Measurer,
  PHASES,
  type Phase,
  type RunSample,
} from './measurer.ts';
import { pullMeasurer } from './pull-measurer.ts';
import { type Spread, spreadOf } from './stats.ts';
import { viperMeasurer } from './viper-measurer.ts';
import { webUpdateMeasurer } from './web-update-measurer.ts';

export interface TargetBenchOptions {
  rig?: string;
  /** Rig target names; default every target the bench can drive. */
  targets?: string[];
  /** Chunk sizes in bytes (push profiles with a chunk); default per protocol. */
  sizes?: number[];
  runs?: number;
  /** Unrecorded runs per client and size before the recorded ones. */
  warmup?: number;
  /** Image bytes per run (ESP32 image; ESP8266 app). */
  imageBytes?: number;
  /** Flash timing of the embedded emulators (overrides the rig's). */
  timing?: FlashTimingProfileName;
  outDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Progress lines. */
  progress?: (line: string) => void;
}

/** One row: a client updating one target at one size, over the recorded runs. */
export interface BenchRow {
  target: string;
  profile: string;
  platform?: string;
  kind: string;
  /** The emulator's flash timing profile; undefined for a board. */
  timing?: string;
  client: string;
  /** Bytes per chunk or block as sent; 0 for a single stream. */
  chunkBytes: number;
  sizeUnit: string;
  /** Bytes of each image sent (an emulator: --image-kib; a board: its rig build). */
  imageBytes: number;
  /** KiB per second over `seconds`. */
  kbps: Spread;
  seconds: Spread;
  phases: Partial<Record<Phase, Spread>>;
  /** This process's CPU per request (µs), for request-per-chunk protocols. */
  cpuMicrosPerRequest?: Spread;
  /** This row's median KB/s over the harness client's on the same target and size. */
  ofHarness?: number;
  verifiedBy: string;
  /** Set instead of figures when the client could not run here. */
  unavailable?: string;
  /** Set when a run failed (the device did not take or confirm the image); the row's figures are then partial. */
  failed?: string;
}

export interface BenchResult {
  version: 1;
  startedAt: string;
  wallSeconds: number;
  rig: string;
  runs: number;
  warmup: number;
  imageBytes: number;
  load: { before: number; after: number };
  rows: BenchRow[];
  /** Targets that could not be benched, with why. */
  skipped: { target: string; reason: string }[];
}

const DEFAULT_IMAGE_BYTES = 256 * 1024;
/** The project's root (run-conformance.ts has the same, but loading it loads vitest's reporters). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_RIG = join(PROJECT_ROOT, 'rigs', 'emulators.json');

/**
 * `ota-conformance bench`: start (or reach) the rig's targets the way `run` does, then update each
 * one over its own protocol again and again — per chunk size and client, warm-up runs first and
 * not recorded, recorded runs interleaved round by round with the client order rotated — and
 * report KB/s and phase times as median, p5, p95 and the coefficient of variation.
 */
export async function runTargetBench(options: TargetBenchOptions = {}): Promise<BenchResult> {
  const env = options.env ?? process.env;
  const progress = options.progress ?? (() => {});
  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 1;
  const imageBytes = options.imageBytes ?? DEFAULT_IMAGE_BYTES;
  if (!Number.isInteger(runs) || runs < 1)
    throw new BenchUsageError(`--runs must be a whole number ≥ 1, got ${runs}`);
  if (!Number.isInteger(warmup) || warmup < 0)
    throw new BenchUsageError(`--warmup must be a whole number ≥ 0, got ${warmup}`);
  const rigFile = options.rig ?? DEFAULT_RIG;
  const rig = await loadRig(rigFile, { env });
  let selected: LoadedTarget[] = rig.targets.filter((target) => target.kind !== 'update-server');
  if (options.targets?.length) {
    const unknown = options.targets.filter((name) => !rig.targets.some((target) => target.name === name));
    if (unknown.length > 0)
      throw new BenchUsageError(
        `--target ${unknown.join(', ')}: the rig has no such target; its targets: ${rig.targets.map((t) => t.name).join(', ')}`,
      );
    selected = rig.targets.filter((target) => options.targets!.includes(target.name));
  }
  if (options.timing !== undefined) selected = selected.map((target) => withTiming(target, options.timing!));
  const outDir = options.outDir ?? join(PROJECT_ROOT, 'reports', 'out');
  const lockDir = join(outDir, 'locks');
  const startedAt = new Date();
  const wallStart = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  const started = await startTargets(rig, selected, { env, lockDir });
  const skipped: BenchResult['skipped'] = started.notStarted.map(({ target, reason }) => ({
    target,
    reason,
  }));
  const rows: BenchRow[] = [];
  try {
    const benches: { measurer: Measurer; images: BenchImages; timing?: string; sizes: number[] }[] = [];
    const leases: { release(): Promise<void> }[] = [];
    const targets: Target[] = [];
    try {
      for (const description of started.descriptions) {
        try {
          leases.push(await acquireTargetLease(lockDir, description.name, { timeoutMs: 60_000 }));
          const target = await connectTarget(description);
          targets.push(target);
          if (description.kind === 'update-server')
            throw new BenchUsageError(
              `target ${description.name}: an update server under test has no write path to bench (its downloads are judged by \`run\`; \`serve\` has its own benchmark)`,
            );
          const images = new BenchImages(target, imageBytes);
          const measurer = await measurerFor(target, images);
          const loaded = selected.find((entry) => entry.name === description.name);
          const emulated = description.kind === 'emulator' || description.kind === 'emulator-process';
          const timing = emulated ? (emulatorTiming(loaded) ?? 'none') : undefined;
          benches.push({
            measurer,
            images,
            ...(timing ? { timing } : {}),
            sizes: measurer.sizes(options.sizes),
          });
        } catch (error) {
          skipped.push({ target: description.name, reason: (error as Error).message });
        }
      }
      if (benches.length === 0 && skipped.length === 0)
        throw new BenchUsageError(`the rig ${rigFile} selects no target the bench can drive`);
      const samples = new Map<string, RunSample[]>();
      const key = (target: string, client: string, size: number) => `${target}\u0000${client}\u0000${size}`;
      const once = async (bench: (typeof benches)[number], client: BenchClient, size: number) => {
        const image = bench.images.next();
        // A young-generation collection first, so the garbage of building this image (or of the
        // last run) is not collected on the clock and CPU of the run being measured.
        collectYoungGarbage();
        try {
          return await client.run(image, client.chunkFor(size));
        } finally {
          bench.images.forget(image);
        }
      };
      // A failed run ends that target's bench (its state is unknown); the other targets go on.
      const failed = new Map<string, string>();
      const attempt = async (bench: (typeof benches)[number], client: BenchClient, size: number) => {
        const name = bench.measurer.target.name;
        if (failed.has(name)) return undefined;
        try {
          return await once(bench, client, size);
        } catch (error) {
          const reason = `${client.name}${size === 0 ? '' : ` at ${size} B`}: ${(error as Error).message}`;
          failed.set(name, reason);
          progress(`bench: ${name} failed: ${reason}`);
          return undefined;
        }
      };
      for (const bench of benches)
        for (const size of bench.sizes)
          for (const client of available(bench.measurer.clients))
            for (let run = 0; run < warmup; run++) await attempt(bench, client, size);
      for (let round = 0; round < runs; round++) {
        for (const bench of benches) {
          for (const size of bench.sizes) {
            for (const client of rotate(available(bench.measurer.clients), round)) {
              const sample = await attempt(bench, client, size);
              if (sample === undefined) continue;
              const list = samples.get(key(bench.measurer.target.name, client.name, size)) ?? [];
              list.push(sample);
              samples.set(key(bench.measurer.target.name, client.name, size), list);
            }
          }
        }
        progress(`bench: round ${round + 1}/${runs} done`);
      }
      for (const bench of benches) {
        const { target } = bench.measurer;
        for (const size of bench.sizes) {
          const harness = samples.get(key(target.name, 'harness', size));
          const harnessKbps = harness ? spreadOf(harness.map(kbpsOf)).median : undefined;
          for (const client of bench.measurer.clients) {
            const base = {
              target: target.name,
              profile: target.profile,
              ...(target.platform ? { platform: target.platform } : {}),
              kind: target.description.kind,
              ...(bench.timing ? { timing: bench.timing } : {}),
              client: client.name,
              chunkBytes: size === 0 ? 0 : client.chunkFor(size),
              sizeUnit: bench.measurer.sizeUnit,
              imageBytes,
            };
            const list = samples.get(key(target.name, client.name, size));
            const failure = failed.get(target.name);
            if (client.unavailable !== undefined || list === undefined) {
              rows.push({
                ...base,
                ...emptyFigures(),
                verifiedBy: '',
                ...(client.unavailable !== undefined
                  ? { unavailable: client.unavailable }
                  : { failed: failure ?? 'not run' }),
              });
              continue;
            }
            rows.push({
              ...base,
              // What was sent: a board's rig build has its own size, whatever --image-kib asked.
              imageBytes: list[0]?.bytes ?? imageBytes,
              ...figures(list, harnessKbps),
              verifiedBy: list[0]?.verifiedBy ?? '',
              ...(failure === undefined || list.length === runs ? {} : { failed: failure }),
            });
          }
        }
      }
      await Promise.all(benches.map((bench) => bench.measurer.close()));
    } finally {
      await Promise.all(targets.map((target) => target.dispose()));
      await Promise.all(leases.map((lease) => lease.release()));
    }
  } finally {
    await started.stop();
  }
  return {
    version: 1,
    startedAt: startedAt.toISOString(),
    wallSeconds: (performance.now() - wallStart) / 1000,
    rig: rig.name ?? rigFile,
    runs,
    warmup,
    imageBytes,
    load: { before: loadBefore, after: loadavg()[0] ?? 0 },
    rows,
    skipped,
  };
}

async function measurerFor(target: Target, images: BenchImages): Promise<Measurer> {
  switch (target.profile) {
    case 'viperhttp':
    case 'viperhttp-doc':
      return await viperMeasurer(target);
    case 'web-update':
      return await webUpdateMeasurer(target, images.versionOf);
    case 'arduino-ota':
      return espotaMeasurer(target, images.versionOf);
    default:
      return pullMeasurer(target, images.versionOf);
  }
}

/**
 * `global.gc({ type: 'minor' })` without asking the user for `node --expose-gc`: V8 lets a running
 * process switch the flag on, and a fresh context then carries the function. Young garbage only:
 * what a run leaves and an image's building makes is young. A full collection here slowed the run
 * right after it, most of all the harness's own client, which runs in this process (web-update,
 * 256 KiB, emulator-process target, 10 runs, load 1.4–3.2: harness median 21–42 MB/s after a full
 * collection, 47–55 MB/s after a young one or none; curl beside it 40–61 MB/s either way).
 */
const collectYoungGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as ((options?: { type: 'minor' | 'major' }) => void) | undefined;
  return typeof gc === 'function' ? () => gc({ type: 'minor' }) : () => {};
})();

function withTiming(target: LoadedTarget, timing: FlashTimingProfileName): LoadedTarget {
  if (target.kind !== 'emulator' && target.kind !== 'emulator-process') return target;
  const emulator = (target as { emulator?: Record<string, unknown> }).emulator ?? {};
  return { ...target, emulator: { ...emulator, timing } } as LoadedTarget;
}

function emulatorTiming(target: LoadedTarget | undefined): string | undefined {
  const timing = (target as { emulator?: { timing?: unknown } } | undefined)?.emulator?.timing;
  return typeof timing === 'string' ? timing : undefined;
}

function available(clients: readonly BenchClient[]): BenchClient[] {
  return clients.filter((client) => client.unavailable === undefined);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

const kbpsOf = (sample: RunSample) => sample.bytes / 1024 / sample.seconds;

function figures(list: readonly RunSample[], harnessKbps: number | undefined) {
  const kbps = spreadOf(list.map(kbpsOf));
  const phases: Partial<Record<Phase, Spread>> = {};
  for (const phase of PHASES) {
    const values = list
      .map((sample) => sample.phases[phase])
      .filter((value): value is number => value !== undefined);
    if (values.length === list.length) phases[phase] = spreadOf(values);
  }
  const perRequest = list
    .filter(
      (sample) => sample.cpuMicros !== undefined && sample.requests !== undefined && sample.requests > 0,
    )
    .map((sample) => sample.cpuMicros! / sample.requests!);
  return {
    kbps,
    seconds: spreadOf(list.map((sample) => sample.seconds)),
    phases,
    ...(perRequest.length === list.length ? { cpuMicrosPerRequest: spreadOf(perRequest) } : {}),
    ...(harnessKbps === undefined ? {} : { ofHarness: kbps.median / harnessKbps }),
  };
}

function emptyFigures() {
  const none: Spread = { runs: 0, median: Number.NaN, p5: Number.NaN, p95: Number.NaN, cv: Number.NaN };
  return { kbps: none, seconds: none, phases: {} };
}
