/**
 * The strategy side of the cross-profile suites (STYLE.md, labgrid): update a target through its
 * own protocol, power it the way the rig can, and tell which image it runs — through drivers/
 * and the target only, so the suites run unchanged against a board. Free of vitest (the
 * power-cut campaign command drives targets with it outside a test); suites take
 * `strategyRequirement` from suites/framework.
 */
export { bootVersionPatterns, SKETCH_BOOT_LINES } from './boot-lines.ts';
export {
  BootWatch,
  BootWatchTimeoutError,
  describeBoot,
  type SeenBoot,
  type WatchedConsole,
} from './boot-watch.ts';
export { type Confirmation, confirmRunningImage } from './confirm.ts';
export { StrategyUnsupportedError } from './errors.ts';
export {
  freshVersion,
  HARNESS_SECURE_VERSION,
  type ImageOptions,
  imageFor,
  STRATEGY_PROJECT,
} from './image-for.ts';
export { knownRestartDelayMs, noRebootWindowMs, rebootTimeoutMs } from './observe.ts';
export { type AfterCut, armPowerCut, powerCycle, powerOnAfterCut } from './power.ts';
export {
  deriveEsp32Version,
  ImageUnavailableError,
  type IssuedImage,
  issuedImages,
  notAnImage,
  otherRigVersion,
  rigBootableImage,
  rigImages,
  rigVersions,
} from './rig-images.ts';
export {
  describeImage,
  fromBoot,
  type RunningImage,
  type RunningImageOptions,
  runningImage,
  sameImage,
} from './running-image.ts';
export {
  type UpdateOptions,
  type UpdateResult,
  updateSupport,
  updateTarget,
  type WireProgress,
} from './update-target.ts';
