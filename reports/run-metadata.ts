import { hostname } from 'node:os';
import type { ImageSent } from '../drivers/image-ledger/index.ts';
import type { LoadedTarget, Redactor, Rig } from '../rigs/index.ts';
import { type HarnessIdentity, harnessIdentity } from './harness-identity.ts';

export type { ImageSent };

/** Who a target is: what the rig says, and what the run learnt about it. */
export interface TargetIdentity {
  name: string;
  kind: string;
  profile: string;
  /** The chip family (esp32, esp8266) where the rig names it. */
  chip?: string;
  mac?: string;
  /** How the harness reached it (redacted). */
  address?: string;
  /** Deliberate non-conformances of an emulated target. */
  defects?: string[];
  seed?: number;
  /** Every distinct image sent to it during the run. */
  images: ImageSent[];
  /** Firmware versions seen in the images it was sent. */
  firmwareVersions: string[];
}

/**
 * What a run was: the first line of results.jsonl, run.json, and the head of every report
 * (JUnit properties, the matrix, the Allure report), so each result file describes itself.
 */
export interface RunMetadata {
  kind: 'ota-conformance-run';
  runId: string;
  harness: HarnessIdentity;
  node: string;
  host: string;
  startedAt: string;
  finishedAt?: string;
  /** running until the run ends; a folder still `running` whose process is gone was interrupted. */
  status: 'running' | 'complete';
  pid: number;
  exitCode?: number;
  /** The command line as typed (redacted), and the folder it ran in. */
  command: string[];
  cwd: string;
  rig: { file: string; name: string; targets: unknown[] };
  selection: {
    grep?: string;
    only?: string[];
    tags?: string[];
    shard?: { index: number; count: number };
    rerun?: string;
  };
  /** Random seeds the run used, by target (emulators with a seed in the rig). */
  seeds: Record<string, number>;
  targets: TargetIdentity[];
  /** A merged report: the runs it was merged from (`report merge`). */
  mergedFrom?: string[];
}

export interface RunMetadataInput {
  runId: string;
  projectRoot: string;
  rig: Rig;
  targets: readonly LoadedTarget[];
  redactor: Redactor;
  argv?: readonly string[];
  selection?: RunMetadata['selection'];
  now?: Date;
}

/** The metadata known when a run starts (images and versions fill in as it goes). */
export function startRunMetadata(input: RunMetadataInput): RunMetadata {
  const { projectRoot, redactor } = input;
  const targets = input.targets.map((target) => identityOf(target, redactor));
  const seeds: Record<string, number> = {};
  for (const target of targets) if (target.seed !== undefined) seeds[target.name] = target.seed;
  return {
    kind: 'ota-conformance-run',
    runId: input.runId,
    harness: harnessIdentity(projectRoot),
    node: process.version,
    host: hostname(),
    startedAt: (input.now ?? new Date()).toISOString(),
    status: 'running',
    pid: process.pid,
    command: (input.argv ?? process.argv).map((arg) => redactor.redact(arg)),
    cwd: process.cwd(),
    rig: {
      file: input.rig.file,
      name: input.rig.name,
      // Secrets are `{ env }` references or inline values; the redactor masks every value it knows.
      targets: input.targets.map((target) => redactor.redactObject(withoutSource(target))),
    },
    selection: input.selection ?? {},
    seeds,
    targets,
  };
}

/** Adds what a run learnt (images sent, by target) and closes it. */
export function finishRunMetadata(
  metadata: RunMetadata,
  imagesByTarget: ReadonlyMap<string, readonly ImageSent[]>,
  exitCode: number,
  now = new Date(),
): RunMetadata {
  return {
    ...metadata,
    status: 'complete',
    finishedAt: now.toISOString(),
    exitCode,
    targets: metadata.targets.map((target) => {
      const images = distinctImages([...target.images, ...(imagesByTarget.get(target.name) ?? [])]);
      const versions = [...new Set(images.flatMap((image) => (image.version ? [image.version] : [])))];
      return { ...target, images, firmwareVersions: versions };
    }),
  };
}

function distinctImages(images: readonly ImageSent[]): ImageSent[] {
  const bySha = new Map<string, ImageSent>();
  for (const image of images) if (!bySha.has(image.sha256)) bySha.set(image.sha256, image);
  return [...bySha.values()];
}

function identityOf(target: LoadedTarget, redactor: Redactor): TargetIdentity {
  const entry = target as LoadedTarget & {
    url?: string;
    host?: string;
    port?: number;
    identity?: { mac?: string };
    emulator?: { defects?: string[]; seed?: number };
    defects?: string[];
  };
  const address =
    entry.url ?? (entry.host ? `${entry.host}${entry.port ? `:${entry.port}` : ''}` : undefined);
  const defects = entry.emulator?.defects ?? entry.defects;
  return {
    name: target.name,
    kind: target.kind,
    profile: target.profile,
    ...(target.kind !== 'update-server' && 'platform' in target && target.platform
      ? { chip: target.platform }
      : {}),
    ...(entry.identity?.mac ? { mac: entry.identity.mac } : {}),
    ...(address ? { address: redactor.redact(address) } : {}),
    ...(defects?.length ? { defects: [...defects] } : {}),
    ...(entry.emulator?.seed === undefined ? {} : { seed: entry.emulator.seed }),
    images: [],
    firmwareVersions: [],
  };
}

function withoutSource(target: LoadedTarget): Omit<LoadedTarget, 'source'> {
  const { source: _source, ...rest } = target;
  return rest;
}
