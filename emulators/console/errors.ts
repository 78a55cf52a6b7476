/** The console was asked for a pseudo-terminal but socat could not be started or made no PTY. */
export class ConsoleUnavailableError extends Error {
  readonly code = 'CONSOLE_PTY_UNAVAILABLE';
  override readonly name = 'ConsoleUnavailableError';
}

/** A console was used in a way its lifecycle does not allow (write after stop, start twice). */
export class ConsoleUsageError extends Error {
  readonly code = 'CONSOLE_USAGE';
  override readonly name = 'ConsoleUsageError';
}
