export {
  type PreflightFailure,
  type PreflightStep,
  preflightTarget,
  preflightTargets,
  WrongDeviceError,
} from './preflight.ts';
