import type { TargetDescription } from '../../drivers/target/index.ts';

/*
 * How long the real update client waits, so the harness never gives up on a conforming board
 * first. Each is the device's own timeout, cited; a rig overrides it with `limits`.
 */

/**
 * ESP8266: `Update.writeStream(*tcp)` waits `streamTimeout` (default 60000 ms) for bytes that do
 * not come before it fails with UPDATE_ERROR_STREAM (6) (reference/arduino-ota.md §3.1
 * "Response handling" 200 step 7: Updater.h writeStream(Stream&, uint16_t streamTimeout = 60000),
 * ESP8266httpUpdate.cpp runUpdate()).
 */
export const ESP8266_STREAM_TIMEOUT_MS = 60_000;

/**
 * ESP32: Update.writeStream() gives up after 300 consecutive empty `readBytes()` with a 100 ms
 * sleep between them, each read waiting up to the Stream timeout (1000 ms by default)
 * (reference/arduino-ota.md §5.2 "writeStream() timeout"; the emulator models the same: streamTimeoutReads 300, streamReadTimeoutMs 1000).
 */
export const ESP32_STREAM_TIMEOUT_MS = 300 * (1_000 + 100);

/** What the device's updater waits for missing image bytes: the rig's `streamTimeoutMs`, else its platform's. */
export function streamTimeoutMs(target: Pick<TargetDescription, 'platform' | 'limits'>): number {
  const fromRig = target.limits?.streamTimeoutMs;
  if (fromRig !== undefined) return fromRig;
  return target.platform === 'esp32' ? ESP32_STREAM_TIMEOUT_MS : ESP8266_STREAM_TIMEOUT_MS;
}

/**
 * The harness' wait for the device to report a stream it gave up on: its stream timeout, plus a
 * margin for printing the result (the step timeout, at least 5 s).
 */
export function streamGiveUpWaitMs(target: Pick<TargetDescription, 'platform' | 'limits'>): number {
  return streamTimeoutMs(target) + Math.max(5_000, target.limits?.stepTimeoutMs ?? 0);
}
