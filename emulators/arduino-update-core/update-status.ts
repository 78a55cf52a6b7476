import { SHARED_UPDATE_ERROR } from './update-error-codes.ts';

/**
 * The status side both UpdateClass (ESP32) and UpdaterClass (ESP8266) offer alike: the last error
 * code and the size/progress bookkeeping of the update in progress. `updateSize` is 0 while no
 * update runs; how progress is counted (bytes flushed, or flash address reached) is the core's.
 */
export abstract class UpdateStatus {
  /** `_error`: one of the core's UPDATE_ERROR_* codes; OK (0) on both. */
  protected error: number = SHARED_UPDATE_ERROR.OK;
  /** `_size`: the bytes begin() announced (or end(true) cut it to); 0 when not running. */
  protected updateSize = 0;

  /** Bytes flushed to flash so far (not counting those still in the RAM buffer). */
  abstract progress(): number;

  getError(): number {
    return this.error;
  }

  hasError(): boolean {
    return this.error !== SHARED_UPDATE_ERROR.OK;
  }

  clearError(): void {
    this.error = SHARED_UPDATE_ERROR.OK;
  }

  isRunning(): boolean {
    return this.updateSize > 0;
  }

  isFinished(): boolean {
    return this.progress() === this.updateSize;
  }

  size(): number {
    return this.updateSize;
  }

  remaining(): number {
    return this.updateSize - this.progress();
  }
}
