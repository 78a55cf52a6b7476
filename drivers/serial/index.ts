export type { BootEvent, BootRecord, CrashEvent, CrashKind } from './boot-log.ts';
export { BootLogTracker, cleanConsoleLine, parseBootLine } from './boot-log.ts';
export {
  ConsoleClosedError,
  ConsoleLostError,
  ConsoleOpenError,
  ConsoleTimeoutError,
  ConsoleUnexpectedLineError,
  ConsoleWriteError,
} from './errors.ts';
export type {
  ConsoleLine,
  ConsoleMatch,
  ExpectNotOptions,
  ExpectOptions,
  ModemLines,
  SerialBinding,
  SerialConsoleOptions,
  WriteOptions,
} from './serial-console.ts';
export { ConsoleDeviceCrashedError, SerialConsole } from './serial-console.ts';
