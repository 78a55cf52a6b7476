export { connectTarget, type Target, type TargetDescription, TargetSetupError } from './target.ts';
export {
  acquireTargetLease,
  processIsAlive,
  sweepStaleLeases,
  type TargetLease,
  TargetLockTimeoutError,
} from './target-lock.ts';
export { Transcript, type TranscriptEntry } from './transcript.ts';
