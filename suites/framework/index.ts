export { currentTarget, type ProvidedTarget, selectTarget } from './current-target.ts';
export { cycleOffMs } from './power-off-time.ts';
export {
  isRigError,
  type RequirementContext,
  RequirementFailure,
  type RequirementMeta,
  RigFailure,
  releaseTarget,
  requirement,
} from './requirement.ts';
export { closeWithRequirement, REQUIREMENT_TIMEOUT_MS } from './requirement-scope.ts';
export { startRigUpdateServer } from './rig-update-server.ts';
export {
  freshSketchVersion,
  RESET_OFF_MS,
  requireConsole,
  resetDevice,
  sketchImageFor,
} from './sketch-device.ts';
export { strategyRequirement } from './strategy/strategy-requirement.ts';
