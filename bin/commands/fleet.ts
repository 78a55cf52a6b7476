import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';

interface FleetFlags {
  devices?: string;
  profile: string;
  server?: string;
  stage?: string;
  trigger?: string;
  faults: string;
  unrecoverable: string;
  workers?: string;
  attempts: string;
  seed: string;
  stageTimeout: string;
  parallel: string;
  pollInterval: string;
  json?: string;
}

export class FleetFlagError extends Error {
  readonly code = 'FLEET_FLAGS';
}

/** The pull profiles a fleet can be made of so far, and the triggers each answers. */
const FLEET_PROFILES: Readonly<Record<string, readonly string[]>> = {
  'mqtt-trigger': ['mqtt'],
  'http-update': ['poll'],
};

/** `ota-conformance fleet`: many emulated devices against one update server, staged and faulted. */
export function registerFleetCommand(program: Command): void {
  program
    .command('fleet')
    .description(
      'Start N emulated devices across worker processes, roll an update out to them in stages from the reference update server (or --server) with a share of the downloads faulted, and report per device',
    )
    .requiredOption('--devices <n>', 'how many emulated devices')
    .option(
      '--profile <profile>',
      "the devices' pull profile (mqtt-trigger: Tasmota devices)",
      'mqtt-trigger',
    )
    .option('--server <url>', 'an update server to test instead of the reference one (no --stage then)')
    .option('--stage <percents>', 'stages as shares of the fleet, e.g. 10,90 (default 100)')
    .option('--trigger <how>', 'how devices learn of an update: mqtt (mqtt-trigger) or poll (http-update)')
    .option('--poll-interval <ms>', 'poll: how often each device checks the server', '5000')
    .option('--faults <share>', 'share of downloads faulted: cut mid-body, stalled or reset', '0.05')
    .option('--unrecoverable <n>', 'devices whose every download is faulted (reported failed)', '2')
    .option('--workers <n>', 'worker processes (default: the CPU count, at least 2)')
    .option('--attempts <n>', 'download attempts per device and stage', '3')
    .option('--seed <n>', 'which devices and downloads are faulted', '1')
    .option('--stage-timeout <s>', 'seconds a stage may take', '300')
    .option('--parallel <n>', 'devices triggered at once (a stage goes out in waves)', '25')
    .option('--json <file>', 'write the per-device report as JSON')
    .action(async (flags: FleetFlags) => {
      const options = parseFleetFlags(flags);
      const { runFleet } = await import('../../suites/campaigns/fleet/fleet.ts');
      const report = await runFleet({ ...options, write: (line) => process.stdout.write(`${line}\n`) });
      const count = (outcome: string) => report.devices.filter((device) => device.outcome === outcome).length;
      const failed = report.devices.filter((device) => device.outcome !== 'updated');
      for (const device of failed)
        process.stdout.write(
          `  ${device.name} (${device.mac}) ${device.outcome}: ${device.why ?? 'never in a stage'}; faults ${device.faults.join(', ') || 'none'}\n`,
        );
      process.stdout.write(
        `${report.devices.length} devices: ${count('updated')} updated, ${count('failed')} failed, ${count('not-reached')} not reached; ` +
          `${report.faults} downloads faulted; wall ${report.wallS.toFixed(1)} s; peak memory ${(report.peakRssBytes / 1024 ** 2).toFixed(0)} MB (all processes); ` +
          `server: ${report.server.requests} requests, ${report.server.downloads} downloads, ${(report.server.bytesPerSecond / 1024 ** 2).toFixed(2)} MB/s, ${report.server.requestsPerSecond.toFixed(0)} requests/s\n`,
      );
      if (flags.json) await writeFile(flags.json, `${JSON.stringify(report, null, 2)}\n`);
      // Every device must end updated except the ones faulted on purpose on every download.
      const unexpected = failed.length - Math.min(failed.length, options.unrecoverable);
      process.exitCode = unexpected > 0 ? 1 : 0;
    });
}

function integer(flag: string, raw: string, min: number): number {
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min)
    throw new FleetFlagError(`${flag}: expected an integer ≥ ${min}, got '${raw}'`);
  return value;
}

export function parseFleetFlags(flags: FleetFlags) {
  const triggers = FLEET_PROFILES[flags.profile];
  if (triggers === undefined)
    throw new FleetFlagError(
      `--profile ${flags.profile}: a fleet is made of ${Object.keys(FLEET_PROFILES).join(', ')} devices so far`,
    );
  const trigger = flags.trigger ?? triggers[0]!;
  if (!triggers.includes(trigger))
    throw new FleetFlagError(
      `--trigger ${trigger}: ${flags.profile} devices learn of updates by ${triggers.join(', ')}`,
    );
  const increments = (flags.stage ?? '100').split(',').map((part) => Number(part.trim()));
  if (increments.some((part) => !Number.isFinite(part) || part <= 0))
    throw new FleetFlagError(`--stage ${flags.stage}: expected positive percentages such as 10,90`);
  let total = 0;
  const stages = increments.map((part) => (total += part));
  if (Math.abs(total - 100) > 1e-9)
    throw new FleetFlagError(`--stage ${flags.stage}: the stages add up to ${total} %, not 100 %`);
  if (flags.server !== undefined && stages.length > 1)
    throw new FleetFlagError(
      '--stage needs the reference update server: a server under test stages its own rollout',
    );
  if (flags.server !== undefined && !/^https?:\/\/[^/]+/.test(flags.server))
    throw new FleetFlagError(`--server ${flags.server}: expected an http:// or https:// URL`);
  const faultRate = Number(flags.faults);
  if (!(faultRate >= 0 && faultRate <= 1))
    throw new FleetFlagError(`--faults ${flags.faults}: expected a share between 0 and 1`);
  const devices = integer('--devices', flags.devices ?? '', 1);
  const unrecoverable = integer('--unrecoverable', flags.unrecoverable, 0);
  if (unrecoverable > devices)
    throw new FleetFlagError(`--unrecoverable ${unrecoverable}: more than the ${devices} devices`);
  return {
    devices,
    stages,
    faultRate,
    unrecoverable,
    workers:
      flags.workers === undefined
        ? Math.max(2, availableParallelism())
        : integer('--workers', flags.workers, 1),
    attempts: integer('--attempts', flags.attempts, 1),
    seed: integer('--seed', flags.seed, 0),
    stageTimeoutS: integer('--stage-timeout', flags.stageTimeout, 1),
    parallel: integer('--parallel', flags.parallel, 1),
    trigger: trigger as 'mqtt' | 'poll',
    pollIntervalMs: integer('--poll-interval', flags.pollInterval, 100),
    ...(flags.server === undefined ? {} : { serverUrl: flags.server.replace(/\/$/, '') }),
  };
}
