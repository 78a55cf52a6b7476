import { join } from 'node:path';
import { connectTarget } from '../../../drivers/target/index.ts';
import { type LoadedTarget, loadRig } from '../../../rigs/index.ts';
import { isRigError } from '../../framework/rig-failure.ts';
import { DEFAULT_RIG, PROJECT_ROOT } from '../../runner/run-conformance.ts';
import { startTargets } from '../../runner/start-targets.ts';
import { BoardCampaign } from './board-campaign.ts';
import {
  type CampaignOptions,
  type CampaignResult,
  describeTimings,
  medianTimings,
} from './campaign-result.ts';
import { cutId, isUnsafe, type Outcome, type Phase } from './cut-point.ts';
import { CampaignError, EmulatorCampaign } from './emulator-campaign.ts';
import { writeCampaignReport } from './report.ts';

export class PowercutUsageError extends Error {
  readonly code = 'POWERCUT_USAGE';
}

export interface PowercutRunOptions extends Omit<CampaignOptions, 'log'> {
  rig?: string;
  target: string;
  /** Emulator targets only: start the emulator with these defects. */
  defects?: string[];
  /** Re-run these cuts (`<seed>:<operation>`, `<seed>:b<bytes>`) instead of a sweep. */
  replay?: string[];
  /** Cut through the rig's power driver at a byte count instead of the emulator's control plane. */
  by?: 'acknowledged' | 'sent';
  /** Cut through the rig's power driver as the k-th device console line matching this appears (k = 1..points). */
  atLine?: RegExp;
  outDir?: string;
  env?: NodeJS.ProcessEnv;
  write?: (text: string) => void;
}

export interface PowercutRunOutcome {
  exitCode: 0 | 1 | 2 | 3;
  result?: CampaignResult;
  replays?: { id: string; outcome: Outcome }[];
}

/**
 * `ota-conformance powercut`: starts one rig target the way `run` does, runs the campaign (or the
 * replays), writes the report and says whether any cut left the device without a good image.
 * Exit 0: no unsafe outcome; 1: the device bricked, broke or booted a wrong image at some cut;
 * 2: bad arguments or rig; 3: the rig failed (nothing said about the device).
 */
export async function runPowercut(options: PowercutRunOptions): Promise<PowercutRunOutcome> {
  const env = options.env ?? process.env;
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const outDir = options.outDir ?? join(PROJECT_ROOT, 'reports', 'out');
  const rig = await loadRig(options.rig ?? DEFAULT_RIG, { env });
  const loaded = rig.targets.find((target) => target.name === options.target);
  if (!loaded)
    throw new PowercutUsageError(
      `--target ${options.target}: the rig has no such target; its targets: ${rig.targets.map((t) => t.name).join(', ')}`,
    );
  const withDefects = applyDefects(loaded, options.defects ?? []);
  const started = await startTargets(rig, [withDefects], { env, lockDir: join(outDir, 'locks') });
  try {
    const [description] = started.descriptions;
    if (!description) {
      write(
        `rig error: ${started.notStarted.map((entry) => `${entry.target}: ${entry.reason}`).join('; ')}\n`,
      );
      return { exitCode: 3 };
    }
    const target = await connectTarget(description);
    try {
      const campaignOptions: CampaignOptions = { ...options, log: (line) => write(`${line}\n`) };
      const campaign =
        options.atLine !== undefined
          ? new BoardCampaign(target, { ...campaignOptions, atLine: options.atLine })
          : options.by !== undefined
            ? new BoardCampaign(target, { ...campaignOptions, by: options.by })
            : new EmulatorCampaign(target, campaignOptions);
      if (options.replay?.length) return await replay(campaign, options.replay, options.seed, write);
      const result = await campaign.run();
      const report = writeCampaignReport(result, outDir);
      write(summary(result));
      write(`report: ${report.folder}\n`);
      if (result.cuts.length === 0) {
        write(`nothing cut: the update has no flash operation in ${result.phases.join(', ')}\n`);
        return { exitCode: 3, result };
      }
      const unsafe = result.cuts.some((cut) => isUnsafe(cut.outcome));
      return { exitCode: unsafe ? 1 : result.stopped ? 3 : 0, result };
    } catch (error) {
      if (isRigError(error)) {
        write(`rig error: ${(error as Error).message}\n`);
        return { exitCode: 3 };
      }
      if (error instanceof CampaignError && error.device) {
        write(`device failed: ${error.message}\n`);
        return { exitCode: 1 };
      }
      throw error;
    } finally {
      await target.dispose();
    }
  } finally {
    await started.stop();
  }
}

function applyDefects(target: LoadedTarget, defects: readonly string[]): LoadedTarget {
  if (defects.length === 0) return target;
  if (target.kind !== 'emulator')
    throw new PowercutUsageError(
      `--defect: target ${target.name} is a ${target.kind}; only emulator targets take defects`,
    );
  return {
    ...target,
    emulator: { ...target.emulator, defects: [...(target.emulator.defects ?? []), ...defects] },
  };
}

async function replay(
  campaign: EmulatorCampaign | BoardCampaign,
  ids: readonly string[],
  seed: number,
  write: (text: string) => void,
): Promise<PowercutRunOutcome> {
  await campaign.prepare();
  const replays: { id: string; outcome: Outcome }[] = [];
  for (const id of ids) {
    const match = /^(\d+):([bl]?)(\d+)$/.exec(id);
    if (!match || Number(match[1]) !== seed)
      throw new PowercutUsageError(
        `--replay ${id}: expected <seed>:<operation>, <seed>:b<bytes> or <seed>:l<line> with the campaign's --seed ${seed}`,
      );
    const cut = await replayOne(campaign, id, match[2] as '' | 'b' | 'l', Number(match[3]));
    replays.push({ id: cutId(cut), outcome: cut.outcome });
    write(`replay ${cutId(cut)}: ${where(cut)} → ${cut.outcome} (${cut.evidence})\n`);
  }
  await campaign.restoreKnownState();
  return { exitCode: replays.some((entry) => isUnsafe(entry.outcome)) ? 1 : 0, replays };
}

/** `b`: bytes (a board's count through its power driver, an emulator's received-bytes cut); `l`: a console line. */
async function replayOne(
  campaign: EmulatorCampaign | BoardCampaign,
  id: string,
  kind: '' | 'b' | 'l',
  point: number,
) {
  if (campaign instanceof EmulatorCampaign) {
    if (kind === 'l')
      throw new PowercutUsageError(`--replay ${id}: a console-line cut is a board campaign's (--at-line)`);
    return kind === 'b' ? await campaign.cutAtReceived(point) : await campaign.cutAt(point);
  }
  if (kind === '')
    throw new PowercutUsageError(`--replay ${id}: a board's cuts are byte counts (b) or console lines (l)`);
  return kind === 'l' ? await campaign.cutAtLine(point) : await campaign.cutAt(point);
}

/** A cut's point in one phrase: the torn flash operation, else the bytes on the wire or the console line. */
function where(cut: CampaignResult['cuts'][number]): string {
  const { point } = cut;
  if (point.kind !== undefined && point.address !== undefined)
    return `${point.phase}, ${point.kind} at 0x${point.address.toString(16)}`;
  if (point.consoleLine !== undefined) return `${point.phase}, at console line '${point.consoleLine}'`;
  return `${point.phase}, ${point.wireBytes ?? point.requestedBytes} bytes ${point.wireCount ?? ''}`.trimEnd();
}

function summary(result: CampaignResult): string {
  const lines = [
    `\n${result.target}: ${result.cuts.length} cuts (${result.method}, seed ${result.seed}) in ${(result.wallMs / 1000).toFixed(1)} s`,
  ];
  for (const window of result.windows) {
    lines.push(
      `  ${window.outcome.padEnd(12)} ${String(window.from).padStart(6)}–${String(window.to).padEnd(6)} ${window.phases.join(',')}${isUnsafe(window.outcome) ? '   UNSAFE' : ''}`,
    );
  }
  const firstUnsafe = result.cuts.find((cut) => isUnsafe(cut.outcome));
  if (firstUnsafe)
    lines.push(`  first unsafe cut: ${cutId(firstUnsafe)} (${where(firstUnsafe)}) → ${firstUnsafe.outcome}`);
  const timings = medianTimings(result);
  if (timings) lines.push(`  ${describeTimings(timings)}`);
  if (result.stopped) lines.push(`  stopped: ${result.stopped}`);
  return `${lines.join('\n')}\n`;
}

export type { Phase };
