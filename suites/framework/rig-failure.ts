/**
 * Thrown by the harness side when the rig failed (target unreachable, broker down, update
 * server cannot bind): reported as a rig error, never counted against the device. It lives apart
 * from requirement.ts (which needs a running vitest) so that the strategies can run outside a
 * suite too (`ota-conformance bench`, campaigns).
 */
export class RigFailure extends Error {
  override readonly name = 'RigFailure';
  readonly code = 'RIG_FAILURE';
}

const RIG_ERROR_CODES = new Set(['TARGET_SETUP', 'TARGET_LOCK_TIMEOUT', 'RIG_FAILURE']);

/** True when an error means the rig failed rather than the device. */
export function isRigError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return error instanceof RigFailure || (typeof code === 'string' && RIG_ERROR_CODES.has(code));
}
