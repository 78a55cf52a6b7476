export * from './device/index.ts';
export { availableProfiles, firmwareFor, UnknownProfileError } from './firmware/index.ts';
export {
  type EmulatorEndpoints,
  type EmulatorOptions,
  type StartedEmulator,
  startEmulator,
} from './start-emulator.ts';
