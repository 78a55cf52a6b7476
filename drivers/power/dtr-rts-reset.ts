import { setTimeout as sleep } from 'node:timers/promises';
import type { SerialPort } from 'serialport';
import { networkBindingFor } from '../serial/network-binding.ts';
import { isTcpSerialPath } from '../serial/tcp-serial-binding.ts';
import { PowerRequestError, PowerTimeoutError, PowerUsageError } from './errors.ts';
import { DEFAULT_STEP_TIMEOUT_MS, type ResetDriver } from './power-driver.ts';

export interface ModemLineState {
  dtr: boolean;
  rts: boolean;
}

/** Something that drives DTR and RTS: the serial console's open port (SerialConsole fits). */
export interface ModemLineControl {
  setModemLines(lines: ModemLineState, options?: { timeoutMs?: number; step?: string }): Promise<void>;
}

/** A serialport binding (the platform's, or @serialport/binding-mock in tests). */
export interface ResetBinding {
  open(options: never): Promise<unknown>;
  list(): Promise<unknown[]>;
}

export type DtrRtsResetOptions = {
  targetName: string;
  /**
   * The chip's USB-Serial/JTAG peripheral instead of a USB-UART bridge: esptool holds reset
   * 200 ms and waits 200 ms after, so the chip can handle further line changes.
   */
  usbJtagSerial?: boolean;
  timeoutMs?: number;
} & ({ lines: ModemLineControl } | { path: string; baudRate?: number; binding?: ResetBinding });

/** esptool's HardReset: EN held low this long on a USB-UART bridge. */
const EN_LOW_MS = 100;
const EN_LOW_MS_USB_JTAG_SERIAL = 200;

/**
 * Resets an ESP32/ESP8266 into its app through the DevKit auto-reset circuit, as esptool's
 * `--after hard-reset` does: RTS drives EN (asserted RTS = EN low), DTR drives IO0 (asserted
 * DTR = IO0 low). DTR stays deasserted throughout so IO0 stays high and the chip boots from
 * flash, not into the download mode. A reset is not a power cycle: RTC memory and the USB
 * bridge keep their power.
 */
export class DtrRtsReset implements ResetDriver {
  readonly targetName: string;
  readonly capabilities: ReadonlySet<'reset'> = new Set(['reset']);
  private readonly options: DtrRtsResetOptions;
  private readonly timeoutMs: number;

  constructor(options: DtrRtsResetOptions) {
    if (!('lines' in options) && (typeof options.path !== 'string' || options.path === '')) {
      throw new PowerUsageError(
        `target '${options.targetName}': DTR/RTS reset needs a serial port path or lines`,
      );
    }
    this.options = options;
    this.targetName = options.targetName;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  }

  async reset(): Promise<void> {
    if ('lines' in this.options) {
      await this.pulse(this.options.lines);
      return;
    }
    const port = await this.openPort(this.options.path, this.options.baudRate, this.options.binding);
    try {
      await this.pulse({
        setModemLines: (lines, options) =>
          this.step(options?.step ?? 'set DTR/RTS', (done) =>
            port.set({ dtr: lines.dtr, rts: lines.rts }, done),
          ),
      });
    } finally {
      await this.step('close the reset port', (done) => port.close(done)).catch(() => {});
    }
  }

  private async pulse(lines: ModemLineControl): Promise<void> {
    const usb = this.options.usbJtagSerial === true;
    await lines.setModemLines(
      { dtr: false, rts: true },
      { timeoutMs: this.timeoutMs, step: 'reset: EN low (RTS on), IO0 high (DTR off)' },
    );
    await sleep(usb ? EN_LOW_MS_USB_JTAG_SERIAL : EN_LOW_MS);
    await lines.setModemLines(
      { dtr: false, rts: false },
      { timeoutMs: this.timeoutMs, step: 'reset: EN high (RTS off), chip runs' },
    );
    if (usb) await sleep(EN_LOW_MS_USB_JTAG_SERIAL);
  }

  private async openPort(path: string, baudRate = 115_200, binding?: ResetBinding): Promise<SerialPort> {
    const { SerialPort } = await import('serialport');
    // An RFC 2217 port carries DTR/RTS as SET_CONTROL; a raw TCP port has no lines to pulse.
    if (binding === undefined && isTcpSerialPath(path)) {
      throw new PowerUsageError(
        `target '${this.targetName}': ${path} is a raw TCP serial port: it carries no DTR/RTS, so it cannot reset the chip; use rfc2217:// or a local port`,
      );
    }
    const chosen = binding ?? networkBindingFor(path);
    const settings = {
      path,
      baudRate,
      autoOpen: false,
      ...(chosen === undefined ? {} : { binding: chosen }),
    };
    // The binding may be a mock; SerialPort's own type only knows the platform one.
    const port = new SerialPort(settings as ConstructorParameters<typeof SerialPort>[0]);
    await this.step(`open ${path} for reset`, (done) => port.open(done));
    return port;
  }

  private step(step: string, operation: (done: (error?: Error | null) => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new PowerTimeoutError(
              `target '${this.targetName}': step '${step}' did not finish within ${this.timeoutMs} ms`,
              this.targetName,
              step,
              this.timeoutMs,
            ),
          ),
        this.timeoutMs,
      );
      operation((error) => {
        clearTimeout(timer);
        if (error) {
          reject(
            new PowerRequestError(
              `target '${this.targetName}': step '${step}' failed: ${error.message}`,
              this.targetName,
              step,
            ),
          );
        } else resolve();
      });
    });
  }
}
