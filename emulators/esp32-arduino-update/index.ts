export {
  type Esp32StreamSource,
  Esp32Update,
  type Esp32UpdateCore,
  type Esp32UpdateFaults,
  type Esp32UpdateOptions,
  type Esp32UpdateSignature,
  U_AUTH,
  U_FLASH,
  UPDATE_SIZE_UNKNOWN,
  updateCommands,
} from './esp32-update.ts';
export {
  type ArduinoRollbackHooks,
  type ArduinoRollbackOutcome,
  initArduinoRollback,
} from './init-arduino-rollback.ts';
export { Esp32UpdateError, type Esp32UpdateErrorCode, esp32UpdateErrorText } from './update-error.ts';
export { esp32UpdateFor } from './update-for-context.ts';
