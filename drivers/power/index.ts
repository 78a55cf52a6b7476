export type { DtrRtsResetOptions, ModemLineControl, ModemLineState, ResetBinding } from './dtr-rts-reset.ts';
export { DtrRtsReset } from './dtr-rts-reset.ts';
export type { EmulatorControlPowerOptions, EmulatorFlashTrace } from './emulator-control-power.ts';
export { EmulatorControlPower } from './emulator-control-power.ts';
export {
  PowerCommandError,
  PowerRequestError,
  PowerStateError,
  PowerTimeoutError,
  PowerUsageError,
} from './errors.ts';
export type { CommandRecord, ExecPowerOptions } from './exec-power.ts';
export { ExecPower } from './exec-power.ts';
export {
  ManualPower,
  type ManualPowerOptions,
  type ManualTerminal,
  manualPowerRefusal,
} from './manual-power.ts';
export type { PowerCapability, PowerDriver, ResetDriver } from './power-driver.ts';
export { DEFAULT_OFF_MS, DEFAULT_STEP_TIMEOUT_MS } from './power-driver.ts';
export type { ShellyOptions, SmartPlugOptions, TasmotaOptions } from './smart-plug-power.ts';
export { ShellyGen1Power, ShellyGen2Power, TasmotaPower } from './smart-plug-power.ts';
