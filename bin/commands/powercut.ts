import type { Command } from 'commander';
import { PHASES, type Phase } from '../../suites/campaigns/powercut/cut-point.ts';

interface PowercutFlags {
  rig?: string;
  target?: string;
  points?: string;
  bisect?: boolean;
  phase: string[];
  seed?: string;
  defect: string[];
  replay: string[];
  by?: string;
  atLine?: string;
  settleMs?: string;
  out?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export class PowercutFlagError extends Error {
  readonly code = 'POWERCUT_FLAGS';
}

/** The phases a sweep covers unless told: every one a flash operation can be numbered in. */
const DEFAULT_PHASES: readonly Phase[] = ['write', 'commit', 'first-boot', 'eboot-copy'];

/** `ota-conformance powercut`: a power-cut campaign against one rig target. */
export function registerPowercutCommand(program: Command): void {
  program
    .command('powercut')
    .description(
      'Cut power at chosen points of an update (on an emulator: exact flash operations, or with --phase transfer exact image bytes received; on a board: byte counts through its power driver), classify what boots, bisect each change of outcome, and replay any cut',
    )
    .option('--rig <file>', 'rig file (default rigs/emulators.json)')
    .option('--target <name>', 'the rig target to cut')
    .option('--points <n>', 'cut points of the sweep (default 200)')
    .option('--bisect', 'bisect every change of outcome down to adjacent flash operations')
    .option(
      '--phase <phase>',
      `phases to sweep (${PHASES.join(', ')}); repeatable; transfer is swept alone, in image bytes`,
      collect,
      [],
    )
    .option('--seed <n>', 'seeds the images, the points and the torn bits (default 1)')
    .option('--defect <name>', 'start the emulator target with this defect; repeatable', collect, [])
    .option(
      '--replay <seed:point>',
      'replay one reported cut (<seed>:<operation>, or <seed>:b<bytes> for a byte-count cut) instead of sweeping; repeatable',
      collect,
      [],
    )
    .option('--by <count>', "a board: cut through the rig's power driver at 'acknowledged' or 'sent' bytes")
    .option(
      '--at-line <regex>',
      "a board: cut through the rig's power driver as the k-th device console line matching this appears (k = 1..--points)",
    )
    .option('--settle-ms <ms>', 'quiet console time that ends the watch after power-on (default 400)')
    .option('--out <dir>', 'report folder root (default reports/out)')
    .action(async (flags: PowercutFlags) => {
      const options = parseFlags(flags);
      const { runPowercut } = await import('../../suites/campaigns/powercut/run-campaign.ts');
      const outcome = await runPowercut(options);
      process.exitCode = outcome.exitCode;
    });
}

function integer(flag: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min)
    throw new PowercutFlagError(`${flag}: expected an integer ≥ ${min}, got '${raw}'`);
  return value;
}

export function parseFlags(flags: PowercutFlags) {
  if (!flags.target) throw new PowercutFlagError('--target: name the rig target to cut');
  const phases = flags.phase.length === 0 ? [...DEFAULT_PHASES] : flags.phase;
  for (const phase of phases) {
    if (!(PHASES as readonly string[]).includes(phase))
      throw new PowercutFlagError(`--phase ${phase}: expected one of ${PHASES.join(', ')}`);
  }
  if (flags.by !== undefined && flags.by !== 'acknowledged' && flags.by !== 'sent')
    throw new PowercutFlagError(`--by ${flags.by}: expected acknowledged or sent`);
  if (flags.by !== undefined && flags.atLine !== undefined)
    throw new PowercutFlagError('--at-line and --by: give one way to cut, not both');
  let atLine: RegExp | undefined;
  if (flags.atLine !== undefined) {
    try {
      atLine = new RegExp(flags.atLine);
    } catch (error) {
      throw new PowercutFlagError(
        `--at-line ${flags.atLine}: not a regular expression (${(error as Error).message})`,
      );
    }
  }
  return {
    rig: flags.rig,
    target: flags.target,
    points: integer('--points', flags.points, 200, 1),
    bisect: flags.bisect === true,
    phases: phases as Phase[],
    seed: integer('--seed', flags.seed, 1, 0),
    defects: flags.defect,
    replay: flags.replay,
    settleMs: integer('--settle-ms', flags.settleMs, 400, 0),
    outDir: flags.out,
    ...(flags.by === undefined ? {} : { by: flags.by as 'acknowledged' | 'sent' }),
    ...(atLine === undefined ? {} : { atLine }),
  };
}
