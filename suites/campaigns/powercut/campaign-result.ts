import type { Target } from '../../../drivers/target/index.ts';
import type { CutResult, CutTimings, Outcome, Phase } from './cut-point.ts';
import type { PhasedOperation } from './phases.ts';
import { outcomeWindows } from './windows.ts';

export interface CampaignOptions {
  /** Seeds the images' versions, the sweep's points and each cut's torn bits. */
  seed: number;
  /** How many cut points the sweep spreads over the phases. */
  points: number;
  phases: readonly Phase[];
  /** Bisect every change of outcome down to adjacent flash operations. */
  bisect: boolean;
  /** Quiet console time after power-on that ends the observation of one cut. */
  settleMs: number;
  /**
   * install (default): the known state is two campaign images installed in turn (both boot
   * selections in use, as in the field); as-is: whatever the target runs now is the old image
   * (the cheap sweep of `run`, after a requirement already installed one).
   */
  baseline?: 'install' | 'as-is';
  log?: (line: string) => void;
}

/** A run of consecutive cut points with one outcome: the windows a report lists. */
export interface OutcomeWindow {
  outcome: Outcome;
  /** First and last cut point of the window (flash operation, or wire bytes on a board). */
  from: number;
  to: number;
  phases: Phase[];
  /** Lowest and highest flash address torn in the window. */
  addresses?: [number, number];
  cuts: number;
}

export interface CampaignResult {
  target: string;
  profile: string;
  platform: string;
  /** control-plane: exact flash operations; power-driver: the rig's switch at a byte count. */
  method: 'control-plane' | 'power-driver';
  seed: number;
  phases: readonly Phase[];
  versions: { old: string; new: string };
  /** The uncut update's operations with their phases (control-plane only). */
  reference: PhasedOperation[];
  cuts: CutResult[];
  windows: OutcomeWindow[];
  wallMs: number;
  /** Why the campaign stopped early (a board left without a bootable image, …). */
  stopped?: string;
}

/** A campaign's result: the target's names, the cuts in order of position and their windows. */
export function campaignResult(
  target: Target,
  fields: Omit<CampaignResult, 'target' | 'profile' | 'platform' | 'windows' | 'wallMs'> & {
    startedAt: number;
  },
): CampaignResult {
  const { startedAt, ...rest } = fields;
  return {
    target: target.name,
    profile: target.profile,
    platform: target.platform ?? 'unknown',
    ...rest,
    windows: outcomeWindows(fields.cuts),
    wallMs: Math.round(performance.now() - startedAt),
  };
}

/** What a campaign's cut points count: flash operations, image bytes, or matching console lines. */
export function campaignAxis(result: Pick<CampaignResult, 'method' | 'phases' | 'cuts'>): {
  short: string;
  long: string;
} {
  if (result.cuts.some((cut) => cut.point.lineOccurrence !== undefined))
    return { short: 'console line', long: 'matching console line the power went at (1 = the first)' };
  if (result.method === 'control-plane' && !result.phases.includes('transfer'))
    return { short: 'flash op', long: 'flash operation of the update (torn)' };
  if (result.method === 'control-plane')
    return { short: 'received bytes', long: 'image bytes received by the device when the power went' };
  return { short: 'wire bytes', long: 'image bytes on the wire at the cut' };
}

/** The median time of each stage of a cut, or undefined when no cut was timed. */
export function medianTimings(result: Pick<CampaignResult, 'cuts'>): CutTimings | undefined {
  const timed = result.cuts.flatMap((cut) => (cut.timingsMs ? [cut.timingsMs] : []));
  if (timed.length === 0) return undefined;
  const median = (stage: keyof CutTimings) => {
    const sorted = timed.map((timings) => timings[stage]).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  return { restore: median('restore'), cut: median('cut'), observe: median('observe') };
}

/** One line: where a cut's time goes (medians). */
export function describeTimings(timings: CutTimings): string {
  return `per cut (median): restore ${timings.restore} ms, update to the cut ${timings.cut} ms, power-on and watch ${timings.observe} ms`;
}
