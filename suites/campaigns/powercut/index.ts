/**
 * Power-cut campaigns (DESIGN.md: suites/campaigns): cut an update at chosen points — exact flash
 * operations on an emulator, byte counts through a board's power driver — classify what boots,
 * sweep, bisect each change of outcome to the first unsafe operation, and replay any cut.
 */
export { BoardCampaign } from './board-campaign.ts';
export type { CampaignOptions, CampaignResult, OutcomeWindow } from './campaign-result.ts';
export { classifyBoots } from './classify.ts';
export {
  type CutPoint,
  type CutResult,
  cutId,
  isUnsafe,
  OUTCOMES,
  type Outcome,
  PHASES,
  type Phase,
  tornSeedFor,
} from './cut-point.ts';
export {
  CampaignError,
  campaignVersions,
  EmulatorCampaign,
  type PreparedCampaign,
} from './emulator-campaign.ts';
export { type PhasedOperation, phaseOperations } from './phases.ts';
export { campaignSvg, campaignTable, writeCampaignReport } from './report.ts';
export { sweepPoints } from './sweep-points.ts';
export { outcomeWindows } from './windows.ts';
