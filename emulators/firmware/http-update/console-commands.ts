import type { FirmwareContext } from '../../device/index.ts';

/** A console that also hands over what the host types on the UART, where the device core offers it. */
interface ConsoleWithInput {
  onInput(listener: (data: Buffer) => void): () => void;
}

function hasInput(console: object): console is ConsoleWithInput {
  return typeof (console as Partial<ConsoleWithInput>).onInput === 'function';
}

/**
 * Calls `onCommand` with each line typed on the UART (CR or LF ended, trimmed), as a sketch's
 * `Serial.readStringUntil('\n')` loop reads it. A no-op when the device core gives the firmware
 * no UART input.
 */
export function onConsoleCommand(context: FirmwareContext, onCommand: (line: string) => void): () => void {
  const console: object = context.console;
  if (!hasInput(console)) return () => {};
  let pending = '';
  return console.onInput((data) => {
    pending += data.toString('latin1');
    for (;;) {
      const end = pending.search(/[\r\n]/);
      if (end === -1) break;
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (line.length > 0 && !context.signal.aborted) onCommand(line);
    }
  });
}
