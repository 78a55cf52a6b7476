/**
 * The words of a power-cut campaign: where in an update a cut lands (phase, flash operation,
 * address, bytes on the wire) and what the device does once power returns.
 */

/**
 * - transfer: bytes on the wire, before or between flash writes (a board cut by bytes sent/acked);
 * - write: the image written to its slot (ESP32 app partition, ESP8266 staging area);
 * - commit: the boot selection written (ESP32 otadata by esp_ota_set_boot_partition);
 * - first-boot: the first boot of the new image (bootloader's NEW→PENDING_VERIFY, the app's mark-valid);
 * - eboot-copy: ESP8266 eboot copying the staged sketch over the running one.
 */
export const PHASES = ['transfer', 'write', 'commit', 'first-boot', 'eboot-copy'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * What runs once power returns. `old`: the image from before the update; `new`: the update;
 * `rolled-back`: the old image again after the new one had started booting; `wrong-boot`: an app
 * runs that the boot selection did not name — the bootloader found otadata lost or naming an
 * unbootable slot and walked to whatever boots (esp-idf.md §3.4 step 5: such fallbacks write
 * nothing, so the selection stays broken), or an image that is neither old nor new; `broken`: an
 * app comes up but keeps resetting (a watchdog or crash loop); `no-boot`: nothing names an app
 * (bricked).
 */
export const OUTCOMES = ['old', 'new', 'rolled-back', 'wrong-boot', 'broken', 'no-boot'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Outcomes after which the device no longer runs a good image of its own choosing. */
export const UNSAFE_OUTCOMES: ReadonlySet<Outcome> = new Set(['wrong-boot', 'broken', 'no-boot']);

export function isUnsafe(outcome: Outcome): boolean {
  return UNSAFE_OUTCOMES.has(outcome);
}

/** Where a cut landed, as exactly as the rig can say. */
export interface CutPoint {
  phase: Phase;
  /**
   * Emulators: the flash operation torn, counted from the start of the update (0 = its first
   * operation). Undefined on a board (nothing numbers its flash operations).
   */
  operation?: number;
  /** The torn operation: erase-sector, erase-block or program, its address and length. */
  kind?: string;
  address?: number;
  length?: number;
  /**
   * Image bytes on the wire when power went: sent by the harness, acknowledged by the device, or
   * (an emulator's transfer cut) received by the device's network side — exact there.
   */
  wireBytes?: number;
  /** How wireBytes was counted. */
  wireCount?: 'sent' | 'acknowledged' | 'received';
  /** A board: the count the cut was asked for, and how long the power driver took to switch off. */
  requestedBytes?: number;
  driverLatencyMs?: number;
  /** A cut at a console line (`--at-line`): which matching line it waited for (1 = the first), and the line. */
  lineOccurrence?: number;
  consoleLine?: string;
}

/** One cut and what followed. */
export interface CutResult {
  /** The campaign's seed and the cut's own (the torn bits), to replay it. */
  seed: number;
  tornSeed?: number;
  point: CutPoint;
  outcome: Outcome;
  /** One line: the boots seen after power-on. */
  evidence: string;
  /** The device's console from the cut to the end of the observation. */
  console: string[];
  /** True when the cut was found by bisection rather than the sweep. */
  bisected?: boolean;
  /**
   * Where the cut's time went: back to the known state (restore, or reinstall on a board), the
   * update until the power was gone (cut), power-on and the watch until the console settled
   * (observe).
   */
  timingsMs?: CutTimings;
}

export interface CutTimings {
  restore: number;
  cut: number;
  observe: number;
}

/** Laps of one cut's stages (CutResult.timingsMs). */
export function cutStopwatch(): { lap(stage: keyof CutTimings): void; readonly timings: CutTimings } {
  const timings: CutTimings = { restore: 0, cut: 0, observe: 0 };
  let last = performance.now();
  return {
    lap(stage) {
      const now = performance.now();
      timings[stage] = Math.round(now - last);
      last = now;
    },
    timings,
  };
}

/**
 * A replayable name for a cut: `<seed>:<operation>` (a flash operation), `<seed>:b<bytes>` (a byte
 * count) or `<seed>:l<k>` (the k-th console line matching the campaign's pattern).
 */
export function cutId(result: Pick<CutResult, 'seed' | 'point'>): string {
  if (result.point.operation !== undefined) return `${result.seed}:${result.point.operation}`;
  if (result.point.lineOccurrence !== undefined) return `${result.seed}:l${result.point.lineOccurrence}`;
  return `${result.seed}:b${result.point.requestedBytes ?? result.point.wireBytes ?? 0}`;
}

/** The torn bits of a cut depend on the campaign's seed and the operation only (replayable). */
export function tornSeedFor(seed: number, operation: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (const value of [operation & 0xffff, operation >>> 16]) {
    hash = Math.imul(hash ^ value, 0x01000193) >>> 0;
  }
  return hash;
}
