import type { Command } from 'commander';
import { PROFILES, type Profile } from '../../emulators/device/types.ts';
import { type LoadedTarget, PULL_PROFILES } from '../../rigs/index.ts';

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
  shard?: string;
  rerunFailed?: string;
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
    .option('--grep <id-prefix>', 'only requirements whose ID starts with this (viperhttp/auth)')
    .option('--strict', 'fail on SHOULD requirements too')
    .option('--junit <file>', 'also write JUnit XML here (always written to <out>/junit.xml)')
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
    .action(async (flags: RunFlags) => {
      // Loaded when the command runs: `--help` and the other verbs need none of it.
      const { runConformance } = await import('../../suites/runner/run-conformance.ts');
      const { parseShard } = await import('../../suites/runner/run-selection.ts');
      const outcome = await runConformance({
        rig: flags.rig,
        adHocTargets: flags.target.length > 0 ? adHocTargets(flags, process.env) : undefined,
        only: flags.only,
        grep: flags.grep,
        strict: flags.strict,
        junit: flags.junit,
        outDir: flags.out,
        ...(flags.shard ? { shard: parseShard(flags.shard) } : {}),
        ...(flags.rerunFailed ? { rerunFailed: flags.rerunFailed } : {}),
      });
      process.exitCode = outcome.exitCode;
    });
}

/** `--target viperhttp=http://10.0.0.5:8080` → a board target, secrets from flags or environment. */
export function adHocTargets(
  flags: Pick<RunFlags, 'target' | 'token' | 'password'>,
  env: NodeJS.ProcessEnv,
): LoadedTarget[] {
  const token = flags.token ?? env.OTA_TOKEN;
  const password = flags.password ?? env.OTA_PASSWORD;
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
        capabilities: [],
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
      capabilities: [],
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
