/** DTR/RTS of a USB-serial bridge as the host drives them; true = asserted (0 V). */
export interface ModemLines {
  dtr: boolean;
  rts: boolean;
}

/**
 * The DevKit auto-reset circuit (reference/esp-serial-flasher.md §1.2): RTS drives EN, DTR drives
 * IO0, through two transistors so that both lines asserted leave the chip running. EN is low only
 * with RTS asserted and DTR not; IO0 is low only with DTR asserted and RTS not.
 */
export function pinsFor(lines: ModemLines): { enHigh: boolean; io0Low: boolean } {
  return { enHigh: !(lines.rts && !lines.dtr), io0Low: lines.dtr && !lines.rts };
}

/**
 * How long after EN rises the chip samples its strapping pins. Real boards delay EN with an RC
 * network, so esptool's ClassicReset (which passes through "both asserted" for an instant while
 * IO0 is still high) still lands in download mode; an emulator that sampled at the very edge
 * would boot normally (T9, reference §1.3 "Emulator note": latch 5-10 ms after EN rises, well
 * under the 50 ms reset_delay).
 */
export const STRAP_LATCH_MS = 8;
