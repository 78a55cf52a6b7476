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
