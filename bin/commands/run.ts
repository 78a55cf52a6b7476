import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import {
  CAPABILITIES,
  type Capability,
  type Limits,
  type LoadedTarget,
  limitsSchema,
  PULL_PROFILES,
} from '../../rigs/index.ts';
import { PROFILES, type Profile } from '../../vocabulary/index.ts';

/** `--target update-server:<profile>=<url>`: a server under test (role 2) instead of a device. */
const SERVER_PREFIX = 'update-server:';

export class RunUsageError extends Error {
  readonly code = 'RUN_USAGE';
}

interface RunFlags {
  rig?: string;
  target: string[];
  token?: string;
  password?: string;
  grep?: string;
  strict?: boolean;
  junit?: string;
  out?: string;
  only: string[];
  tags?: string[];
  shard?: string;
  rerunFailed?: string;
  allureReport: boolean;
  capability: string[];
  limit: string[];
  option: string[];
  verbose?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `ota-conformance run`: every requirement against every target of a rig (default: the embedded emulators). */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description(
      'Run the conformance suites against a rig (default: every profile on the embedded emulators)',
    )
    .option('--rig <file>', 'rig file listing the targets (default rigs/emulators.json)')
    .option(
      '--target <profile=url>',
      'an ad-hoc board target instead of the rig (update-server:<profile>=<url> for an update server under test); repeatable',
      collect,
      [],
    )
    .option('--token <token>', 'token for --target (or OTA_TOKEN in the environment)')
    .option('--password <password>', 'password for --target (or OTA_PASSWORD in the environment)')
    .option('--only <name>', 'run only the rig target with this name; repeatable', collect, [])
    .option(
      '--tags <tags>',
      'run only the rig targets that carry every one of these tags (comma-separated, the rig\'s "tags")',
      (value: string) =>
        value
          .split(',')
          .map((tag) => tag.trim())
          .filter(Boolean),
    )
    .option('--grep <id-prefix>', 'only requirements whose ID starts with this (viperhttp/auth)')
    .option('--strict', 'fail on SHOULD requirements too')
    .option('--junit <file>', 'also write JUnit XML here (always written to <out>/junit.xml)')
    .option(
      '--capability <list>',
      `capabilities the --target claims, comma-separated; repeatable (${CAPABILITIES.join(', ')})`,
      collect,
      [],
    )
    .option(
      '--limit <key=value>',
      `a limit of the --target in ms or bytes; repeatable (${Object.keys(limitsSchema.shape).join(', ')})`,
      collect,
      [],
    )
    .option(
      '--option <key=value>',
      'what a --target update server publishes (latestVersion=1.1.0, olderVersion, path, dialect…) or a device option; repeatable',
      collect,
      [],
    )
    .option(
      '--out <dir>',
      'root of the run folders: each run writes <out>/<run-id>/ and points <out>/latest at it (default reports/out)',
    )
    .option(
      '--shard <i/n>',
      "run only this share of the rig's targets (merge the shards with `report merge`)",
    )
    .option(
      '--rerun-failed <results.jsonl>',
      'run again only the requirements that failed there, on the same targets',
    )
    .option(
      '--no-allure-report',
      'skip the single-file Allure report (its generation takes seconds; allure-results/ stay)',
    )
    .option('--verbose', 'print every skipped requirement (default: one line per reason with a count)')
    .addHelpText(
      'after',
      `
Before its suites each target is preflighted: its power switch answers, its console opens and the
device answers the way its profile does. A target that fails is one rig error; its requirements
are reported as not run, never as device failures.

Exit codes:
  0  every MUST passed (every SHOULD too with --strict) and every target ran at least one requirement
  1  a device failed a MUST (or a SHOULD with --strict)
  2  bad arguments or rig file, including a --grep or --only that selects nothing
  3  no device failure, but rig errors or a target on which nothing ran`,
    )
    .action(async (flags: RunFlags) => {
      if (
        flags.target.length === 0 &&
        (flags.capability.length > 0 || flags.limit.length > 0 || flags.option.length > 0)
      ) {
        throw new RunUsageError(
          '--capability, --limit and --option describe a --target; a rig file says them per target',
        );
      }
      const adHoc = flags.target.length > 0 ? adHocTargets(flags, process.env) : undefined;
      if (adHoc) for (const target of adHoc) process.stdout.write(`${describeAssumptions(target)}\n`);
      // The embedded emulators' process boots while the run's own code loads.
      const { EmulatorHost } = await import('../../suites/runner/emulator-host.ts');
      const emulatorHost = adHoc ? undefined : EmulatorHost.startEarlyFor(flags.rig ?? DEFAULT_RIG_FILE);
      try {
        // Loaded when the command runs: `--help` and the other verbs need none of it.
        const { runConformance } = await import('../../suites/runner/run-conformance.ts');
        const { parseShard } = await import('../../suites/runner/run-selection.ts');
        const outcome = await runConformance({
          rig: flags.rig,
          adHocTargets: adHoc,
          only: flags.only,
          ...(flags.tags ? { tags: flags.tags } : {}),
          grep: flags.grep,
          strict: flags.strict,
          junit: flags.junit,
          outDir: flags.out,
          verbose: flags.verbose,
          ...(flags.shard ? { shard: parseShard(flags.shard) } : {}),
          ...(flags.rerunFailed ? { rerunFailed: flags.rerunFailed } : {}),
          allureReport: flags.allureReport,
          ...(emulatorHost ? { emulatorHost } : {}),
        });
        process.exitCode = outcome.exitCode;
      } finally {
        await emulatorHost?.stop();
      }
    });
}

/** The default rig (the embedded emulators); run-conformance.ts says the same once loaded. */
const DEFAULT_RIG_FILE = fileURLToPath(new URL('../../rigs/emulators.json', import.meta.url));

/** `--target viperhttp=http://10.0.0.5:8080` → a board target, secrets from flags or environment. */
export function adHocTargets(
  flags: Pick<RunFlags, 'target' | 'token' | 'password'> &
    Partial<Pick<RunFlags, 'capability' | 'limit' | 'option'>>,
  env: NodeJS.ProcessEnv,
): LoadedTarget[] {
  const token = flags.token ?? env.OTA_TOKEN;
  const password = flags.password ?? env.OTA_PASSWORD;
  const capabilities = capabilitiesOf(flags.capability ?? []);
  const limits = limitsOf(flags.limit ?? []);
  const options = optionsOf(flags.option ?? []);
  const described = {
    capabilities,
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(Object.keys(options).length > 0 ? { options } : {}),
  };
  return flags.target.map((spec, index) => {
    const at = spec.indexOf('=');
    if (at <= 0) throw new RunUsageError(`--target: expected profile=url, got '${spec}'`);
    const [kind, profile] = spec.startsWith(SERVER_PREFIX)
      ? (['update-server', spec.slice(SERVER_PREFIX.length, at)] as const)
      : (['board', spec.slice(0, at)] as const);
    const address = spec.slice(at + 1);
    if (kind === 'update-server' && !(PULL_PROFILES as readonly string[]).includes(profile)) {
      throw new RunUsageError(
        `--target ${spec}: an update server serves a pull profile; known: ${PULL_PROFILES.join(', ')}`,
      );
    }
    if (!(PROFILES as readonly string[]).includes(profile)) {
      throw new RunUsageError(
        `--target ${spec}: unknown profile '${profile}'; known: ${PROFILES.join(', ')}`,
      );
    }
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw new RunUsageError(
        `--target ${spec}: '${address}' is not a URL (http://host:port or udp://host:port)`,
      );
    }
    if (kind === 'update-server') {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new RunUsageError(`--target ${spec}: an update server's address is an http:// or https:// URL`);
      }
      // The harness plays the device: the server's secrets are what a device would send it.
      const server = {
        name: `update-server-${profile}-${index + 1}`,
        kind,
        profile: profile as Profile,
        ...described,
        source: { file: '--target', index },
        url: url.href,
        ...(token ? { token } : {}),
        ...(password ? { password } : {}),
      };
      return server as unknown as LoadedTarget;
    }
    // espota reaches a device over UDP; every other profile is an HTTP(S) endpoint.
    const udp = profile === 'arduino-ota';
    if (
      udp ? url.protocol !== 'udp:' || url.port === '' : url.protocol !== 'http:' && url.protocol !== 'https:'
    ) {
      throw new RunUsageError(
        `--target ${spec}: a ${profile} device's address is ${udp ? 'udp://host:port' : 'an http:// or https:// URL'}`,
      );
    }
    const target = {
      name: `${profile}-${index + 1}`,
      kind: 'board',
      profile: profile as Profile,
      ...described,
      source: { file: '--target', index },
      ...(url.protocol === 'udp:'
        ? { host: url.hostname, port: Number(url.port) }
        : { url: url.href.replace(/\/$/, '') }),
      ...(token ? { token } : {}),
      ...(password ? { password } : {}),
    };
    return target as unknown as LoadedTarget;
  });
}

/**
 * What a target reached by a bare address cannot back: the means a rig file gives a board (a
 * serial port, a power switch, a reset line). Claimed anyway, the requirements that need them
 * would end in rig errors instead of skips, so the claim is refused (rigs/schema.ts says the same
 * of a rig file's board).
 */
const NEEDS_A_RIG_FILE: Partial<Record<Capability, string>> = {
  console: 'a serial console',
  'power-cycle': 'a power switch',
  'power-cut-at-byte': 'a power switch the harness drives itself',
  reset: 'a reset line or a power switch',
};

function capabilitiesOf(values: readonly string[]): Capability[] {
  const names = values
    .flatMap((value) => value.split(','))
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(CAPABILITIES as readonly string[]).includes(name)) {
      throw new RunUsageError(`--capability ${name}: unknown capability; known: ${CAPABILITIES.join(', ')}`);
    }
    const means = NEEDS_A_RIG_FILE[name as Capability];
    if (means !== undefined) {
      throw new RunUsageError(
        `--capability ${name}: needs ${means}, which a --target address cannot give; describe the board in a rig file (rigs/README.md)`,
      );
    }
  }
  return [...new Set(names)] as Capability[];
}

/** `--option key=value`: strings as given (a rig file's `options` may hold any JSON). */
function optionsOf(values: readonly string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (const value of values) {
    const match = /^([A-Za-z][\w-]*)=(.*)$/.exec(value);
    if (!match) throw new RunUsageError(`--option ${value}: expected key=value, e.g. latestVersion=1.1.0`);
    options[match[1]!] = match[2]!;
  }
  return options;
}

function limitsOf(values: readonly string[]): Limits {
  const limits: Record<string, number> = {};
  for (const value of values) {
    const match = /^([A-Za-z]+)=(\d+)$/.exec(value.trim());
    if (!match) {
      throw new RunUsageError(
        `--limit ${value}: expected key=value in ms or bytes, e.g. sessionTimeoutMs=30000`,
      );
    }
    limits[match[1]!] = Number(match[2]);
  }
  const parsed = limitsSchema.safeParse(limits);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || (issue as { keys?: string[] }).keys?.join(', ') || '';
    throw new RunUsageError(
      `--limit ${key}: ${issue.message}; known limits: ${Object.keys(limitsSchema.shape).join(', ')}`,
    );
  }
  return parsed.data;
}

/** What the run takes for granted about an ad-hoc target, printed before it runs (never a secret, only whether one is set). */
export function describeAssumptions(target: LoadedTarget): string {
  const fields = target as LoadedTarget & {
    url?: string;
    host?: string;
    port?: number;
    token?: unknown;
    password?: unknown;
  };
  const address = fields.url ?? `udp://${fields.host}:${fields.port}`;
  const secrets = (['token', 'password'] as const)
    .filter((key) => fields[key] !== undefined)
    .map((key) => `${key} set`);
  const limits = Object.entries(target.limits ?? {}).map(([key, value]) => `${key}=${value}`);
  return [
    `assumed for --target ${target.name}: a ${target.kind} speaking ${target.profile} at ${address}`,
    `  capabilities: ${target.capabilities.length > 0 ? target.capabilities.join(', ') : 'none (only requirements that need none run; --capability adds some)'}`,
    `  limits: ${limits.length > 0 ? limits.join(', ') : "none (the suites' defaults; --limit sets one)"}`,
    `  no console, no power switch, no reset line; ${secrets.length > 0 ? secrets.join(', ') : 'no token or password'}`,
  ].join('\n');
}
