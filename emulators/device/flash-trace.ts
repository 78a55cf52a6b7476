import type { FlashOperation, FlashOperationKind } from '../flash/index.ts';

/** One flash operation as a campaign sees it: its index since the device was made, and where it went. */
export interface TracedOperation {
  index: number;
  kind: FlashOperationKind;
  offset: number;
  length: number;
  /** false for the one operation a power cut tore. */
  completed: boolean;
}

/**
 * A moment of the device's life placed among its flash operations: `at` operations had happened.
 * `boot` when a boot began (the bootloader's own writes follow it), `app` when the app it loaded
 * started, `power-off` when the chip lost power (a cut or the switch).
 */
export interface TraceMarker {
  at: number;
  kind: 'boot' | 'app' | 'power-off';
  /** boot: why (power-on, software, reset-pin); app: the version it runs. */
  detail: string;
}

export interface FlashTraceWindow {
  /** Operations since the asked-for index (oldest first), at most `limit`. */
  operations: TracedOperation[];
  markers: TraceMarker[];
  /** How many operations the device has done so far (the next operation's index). */
  count: number;
  /** Named areas of the flash (an ESP32's partitions), to tell an image write from a boot selection. */
  regions: FlashRegion[];
}

export interface FlashRegion {
  name: string;
  offset: number;
  size: number;
}

/** Operations kept: a 4 MiB flash written whole is 16k page programs and 1k erases. */
const KEPT_OPERATIONS = 200_000;
const KEPT_MARKERS = 10_000;
/** At least the kept number stay; up to this many more before the oldest go, all at once. */
const TRIM_BATCH = 10_000;

/**
 * The device's flash operations and boots in order, numbered from the device's making, so a
 * power-cut campaign can name "the k-th operation of this update", map it to a phase (image
 * write, boot selection, the bootloader's own writes, eboot's copy) and arm a cut exactly there.
 */
export class FlashTrace {
  private readonly operations: TracedOperation[] = [];
  private readonly markers: TraceMarker[] = [];
  private total = 0;
  /** Set by the device when it lays out its flash. */
  regions: FlashRegion[] = [];

  get count(): number {
    return this.total;
  }

  record(operation: FlashOperation): void {
    this.operations.push({
      index: this.total++,
      kind: operation.kind,
      offset: operation.offset,
      length: operation.length,
      completed: operation.completed,
    });
    // Trimmed in batches: dropping the oldest one per operation moved the whole array each time
    // once it was full (a long bench slowed from 5 ms to 600 ms per upload).
    if (this.operations.length > KEPT_OPERATIONS + TRIM_BATCH)
      this.operations.splice(0, this.operations.length - KEPT_OPERATIONS);
  }

  mark(kind: TraceMarker['kind'], detail: string): void {
    this.markers.push({ at: this.total, kind, detail });
    if (this.markers.length > KEPT_MARKERS + TRIM_BATCH)
      this.markers.splice(0, this.markers.length - KEPT_MARKERS);
  }

  /** Everything from operation `since` on (markers from the same point). */
  since(since: number): FlashTraceWindow {
    const first = this.operations.findIndex((operation) => operation.index >= since);
    return {
      operations: first === -1 ? [] : this.operations.slice(first),
      markers: this.markers.filter((marker) => marker.at >= since),
      count: this.total,
      regions: this.regions,
    };
  }
}
