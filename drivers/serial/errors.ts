import { codedError } from '../../vocabulary/index.ts';

/** An expected console line did not come within its timeout. */
export class ConsoleTimeoutError extends codedError('CONSOLE_TIMEOUT', 'ConsoleTimeoutError') {
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
export class ConsoleUnexpectedLineError extends codedError(
  'CONSOLE_UNEXPECTED_LINE',
  'ConsoleUnexpectedLineError',
) {
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
export class ConsoleOpenError extends codedError('CONSOLE_OPEN', 'ConsoleOpenError') {}

/** The port went away and did not come back (or reopen is off); waits on it end here. */
export class ConsoleLostError extends codedError('CONSOLE_LOST', 'ConsoleLostError') {}

/** The console was closed by its owner while a wait or a write was still running. */
export class ConsoleClosedError extends codedError('CONSOLE_CLOSED', 'ConsoleClosedError') {}

/** A write or a modem-line change did not finish within its timeout. */
export class ConsoleWriteError extends codedError('CONSOLE_WRITE', 'ConsoleWriteError') {}
