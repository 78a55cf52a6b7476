import type { Target } from '../../../drivers/target/index.ts';
import { requireConsole } from './observe.ts';
import { withViperClient } from './viper-client.ts';

/** How the running image was confirmed, and whether the device said it took the confirmation. */
export interface Confirmation {
  how: string;
  /**
   * True when the device said it took the confirmation, false when it refused, undefined when it
   * says nothing either way (esp-https-ota prints nothing for an image that is valid already).
   */
  acknowledged: boolean | undefined;
  answer: string;
}

const MARKED_VALID = /App is valid, rollback cancelled|Failed to cancel rollback/;
const CONFIRM_TIMEOUT_MS = 3_000;

/**
 * Marks the running image valid (`awaitAcknowledgement: false`: send the confirmation without
 * waiting for the device's word, for a known-state step where the image may be valid already) so the bootloader keeps it (reference/esp-idf.md §3.5
 * esp_ota_mark_app_valid_cancel_rollback), the profile's way:
 * - viperhttp: `POST /ota/mark-valid` (viperhttp-luartos-mqtt.md §1.5 ota_mark_app_valid);
 * - esp-https-ota: the lab app's console command `ota mark-valid`, as the example does after its
 *   self-test (esp-idf.md §6.3), acknowledged by `App is valid, rollback cancelled successfully`;
 * - every other profile's firmware confirms itself: viperhttp-doc once its server is up, Arduino
 *   cores in initArduino() before setup() (arduino-ota.md §5.3), and ESP8266 has no rollback.
 */
export async function confirmRunningImage(
  target: Target,
  options: { awaitAcknowledgement?: boolean } = {},
): Promise<Confirmation> {
  if (target.profile === 'viperhttp') {
    return await withViperClient(target, async (client) => {
      // Right after a reboot the app may not listen yet: wait until it answers its status.
      await client.waitForStatus(() => true, {
        timeoutMs: target.description.limits?.rebootTimeoutMs ?? 10_000,
        step: 'wait for the app to serve before mark-valid',
      });
      const answer = await client.markValid();
      return {
        how: 'POST /ota/mark-valid',
        acknowledged: answer.ok === true,
        answer: JSON.stringify(answer),
      };
    });
  }
  if (target.profile === 'esp-https-ota' && target.capabilities.has('rollback')) {
    const console = requireConsole(target, 'confirm the running image');
    const step = 'confirm the running image (ota mark-valid)';
    const send = async () => {
      target.transcript.record(step, 'send', 'console: ota mark-valid');
      await console.write('ota mark-valid\n', { step });
    };
    // An image that is already valid prints nothing: a caller that only makes sure does not wait.
    if (options.awaitAcknowledgement === false) {
      await send();
      return { how: 'console `ota mark-valid`', acknowledged: undefined, answer: '(not awaited)' };
    }
    const acknowledged = console
      .expect(MARKED_VALID, { timeoutMs: CONFIRM_TIMEOUT_MS, step, fromNow: true })
      .then((match) => match.line.text);
    acknowledged.catch(() => {});
    await send();
    const line = await acknowledged.catch(() => undefined);
    return {
      how: 'console `ota mark-valid`',
      acknowledged: line === undefined ? undefined : !/Failed/.test(line),
      answer: line ?? `no "App is valid" line within ${CONFIRM_TIMEOUT_MS} ms`,
    };
  }
  return {
    how: `none needed: the ${target.profile} firmware confirms its image itself`,
    acknowledged: true,
    answer: '',
  };
}
