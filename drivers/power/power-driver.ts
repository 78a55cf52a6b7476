/**
 * What a rig can do to a board besides talking to it. Power and reset are different
 * capabilities: a relay cuts the supply (the board's RTC memory and USB bridge lose power too),
 * a reset pulses EN and leaves both powered, and only an emulator can cut power after an exact
 * number of flash bytes.
 */
export type PowerCapability = 'power-cycle' | 'power-cut-at-byte' | 'reset';

export interface PowerDriver {
  readonly targetName: string;
  readonly capabilities: ReadonlySet<PowerCapability>;
  on(): Promise<void>;
  off(): Promise<void>;
  /** Off, `offMs` without power, on. */
  cycle(offMs?: number): Promise<void>;
  reset?(): Promise<void>;
  /**
   * Reads whether the supply is on, without switching it (a preflight asks whether the switch
   * answers at all). Absent where the switch cannot be read (a shell command, uhubctl).
   */
  state?(): Promise<'on' | 'off'>;
  /** Arms a cut: the device loses power after `bytes` more programmed flash bytes. */
  cutAfterBytes?(bytes: number): Promise<void>;
}

/** A driver that can only reset the chip (EN pulse), not switch its power. */
export interface ResetDriver {
  readonly targetName: string;
  readonly capabilities: ReadonlySet<'reset'>;
  reset(): Promise<void>;
}

/** How long a board stays off in cycle() unless told otherwise: long enough to drain and reset. */
export const DEFAULT_OFF_MS = 1_000;
/** One HTTP request or one command; generous for a plug on a busy Wi-Fi, short for a dead one. */
export const DEFAULT_STEP_TIMEOUT_MS = 5_000;
