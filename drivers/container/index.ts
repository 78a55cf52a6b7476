export {
  checkContainerRuntime,
  EMULATOR_IMAGE,
  MOSQUITTO_IMAGE,
  type RuntimeCheck,
  type StartedEmulatorContainer,
  startEmulatorContainer,
  startMosquittoContainer,
} from './container-launcher.ts';
export {
  ContainerStartError,
  type StartedContainerTarget,
  startContainerTarget,
} from './container-target.ts';
