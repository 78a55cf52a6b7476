export type { ConsoleLine, ConsoleMode, DeviceConsoleOptions } from './device-console.ts';
export { DeviceConsole } from './device-console.ts';
export { ConsoleUnavailableError, ConsoleUsageError } from './errors.ts';
