/** An expected console line did not come within its timeout. */
export class ConsoleTimeoutError extends Error {
  readonly code = 'CONSOLE_TIMEOUT';
  override readonly name = 'ConsoleTimeoutError';
  constructor(
    message: string,
    readonly targetName: string,
    readonly step: string,
    readonly lastLines: readonly string[],
  ) {
    super(message);
  }
}

/** expectNot() saw a line it was told must not appear. */
export class ConsoleUnexpectedLineError extends Error {
  readonly code = 'CONSOLE_UNEXPECTED_LINE';
  override readonly name = 'ConsoleUnexpectedLineError';
  constructor(
    message: string,
    readonly targetName: string,
    readonly step: string,
    readonly line: string,
  ) {
    super(message);
  }
}

/** The serial port could not be opened (missing, busy, no permission) within the open timeout. */
export class ConsoleOpenError extends Error {
  readonly code = 'CONSOLE_OPEN';
  override readonly name = 'ConsoleOpenError';
}

/** The port went away and did not come back (or reopen is off); waits on it end here. */
export class ConsoleLostError extends Error {
  readonly code = 'CONSOLE_LOST';
  override readonly name = 'ConsoleLostError';
}

/** The console was closed by its owner while a wait or a write was still running. */
export class ConsoleClosedError extends Error {
  readonly code = 'CONSOLE_CLOSED';
  override readonly name = 'ConsoleClosedError';
}

/** A write or a modem-line change did not finish within its timeout. */
export class ConsoleWriteError extends Error {
  readonly code = 'CONSOLE_WRITE';
  override readonly name = 'ConsoleWriteError';
}
