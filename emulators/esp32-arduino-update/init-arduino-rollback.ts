import { EspError, type EspOtaOps } from '../esp32-ota-ops/index.ts';
import { OtaState } from '../otadata/index.ts';

/** The weak hooks a sketch may override (cores/esp32/esp32-hal-misc.c). */
export interface ArduinoRollbackHooks {
  /** `verifyRollbackLater()`: true leaves a new image PENDING_VERIFY for the sketch to confirm. Default false. */
  verifyRollbackLater?: () => boolean;
  /** `verifyOta()`: false marks a pending image invalid and reboots into the previous one. Default true. */
  verifyOta?: () => boolean;
}

/**
 * What `initArduino()` did before `setup()`: nothing to do (rollback off, factory app, image
 * already confirmed), marked the pending image valid, left it pending for the sketch, or marked
 * it invalid — then the caller must restart, as esp_ota_mark_app_invalid_rollback_and_reboot does.
 */
export type ArduinoRollbackOutcome = 'not-pending' | 'marked-valid' | 'deferred' | 'rollback-reboot';

/**
 * The `#ifdef CONFIG_APP_ROLLBACK_ENABLE` block of `initArduino()` (reference/arduino-ota.md §5.3):
 * unless the sketch defers, a new image in PENDING_VERIFY is confirmed before setup() runs — so
 * an Arduino sketch keeps a new image even if it crashes later in setup().
 */
export function initArduinoRollback(
  services: { readonly ota: EspOtaOps; readonly rollback: boolean },
  hooks: ArduinoRollbackHooks = {},
): ArduinoRollbackOutcome {
  if (!services.rollback) return 'not-pending';
  const { ota } = services;
  let state: number | undefined;
  try {
    state = ota.getStateOf(ota.getRunningPartition());
  } catch (error) {
    // esp_ota_get_state_partition fails for the factory app: nothing to confirm.
    if (error instanceof EspError) return 'not-pending';
    throw error;
  }
  if (state !== OtaState.PENDING_VERIFY) return 'not-pending';
  if (hooks.verifyRollbackLater?.() ?? false) return 'deferred';
  if (hooks.verifyOta?.() ?? true) {
    ota.markAppValidCancelRollback();
    return 'marked-valid';
  }
  ota.markAppInvalidRollbackAndReboot();
  return 'rollback-reboot';
}
