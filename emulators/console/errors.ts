import { codedError } from '../../vocabulary/index.ts';

/** The console was asked for a pseudo-terminal but socat could not be started or made no PTY. */
export class ConsoleUnavailableError extends codedError(
  'CONSOLE_PTY_UNAVAILABLE',
  'ConsoleUnavailableError',
) {}

/** A console was used in a way its lifecycle does not allow (write after stop, start twice). */
export class ConsoleUsageError extends codedError('CONSOLE_USAGE', 'ConsoleUsageError') {}
