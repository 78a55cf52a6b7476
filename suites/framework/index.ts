export {
  isRigError,
  type Level,
  type RequirementContext,
  RequirementFailure,
  type RequirementMeta,
  RigFailure,
  requirement,
} from './requirement.ts';
