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
export { networkBindingFor } from './network-binding.ts';
export { isRfc2217Path, Rfc2217Error, Rfc2217SerialBinding } from './rfc2217-binding.ts';
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
