/** A power or reset step did not finish within its timeout (a dead plug, a hung command). */
export class PowerTimeoutError extends Error {
  readonly code = 'POWER_TIMEOUT';
  override readonly name = 'PowerTimeoutError';
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
export class PowerRequestError extends Error {
  readonly code = 'POWER_REQUEST_FAILED';
  override readonly name = 'PowerRequestError';
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
export class PowerStateError extends Error {
  readonly code = 'POWER_STATE_MISMATCH';
  override readonly name = 'PowerStateError';
  constructor(
    message: string,
    readonly targetName: string,
    readonly step: string,
  ) {
    super(message);
  }
}

/** A rig-given power command exited non-zero. */
export class PowerCommandError extends Error {
  readonly code = 'POWER_COMMAND_FAILED';
  override readonly name = 'PowerCommandError';
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
export class PowerUsageError extends Error {
  readonly code = 'POWER_USAGE';
  override readonly name = 'PowerUsageError';
}
