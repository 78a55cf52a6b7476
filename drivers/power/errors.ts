import { codedError } from '../../vocabulary/index.ts';

/** A power or reset step did not finish within its timeout (a dead plug, a hung command). */
export class PowerTimeoutError extends codedError('POWER_TIMEOUT', 'PowerTimeoutError') {
  constructor(
    message: string,
    readonly targetName: string,
    readonly step: string,
    readonly timeoutMs: number,
  ) {
    super(message);
  }
}

/** The switch could not be reached or refused the request (connection refused, 401, 500). */
export class PowerRequestError extends codedError('POWER_REQUEST_FAILED', 'PowerRequestError') {
  constructor(
    message: string,
    readonly targetName: string,
    readonly step: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The switch answered, but its answer does not say the state it was asked for. */
export class PowerStateError extends codedError('POWER_STATE_MISMATCH', 'PowerStateError') {
  constructor(
    message: string,
    readonly targetName: string,
    readonly step: string,
  ) {
    super(message);
  }
}

/** A rig-given power command exited non-zero. */
export class PowerCommandError extends codedError('POWER_COMMAND_FAILED', 'PowerCommandError') {
  constructor(
    message: string,
    readonly targetName: string,
    readonly step: string,
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

/** A driver was configured with options it cannot use. */
export class PowerUsageError extends codedError('POWER_USAGE', 'PowerUsageError') {}
