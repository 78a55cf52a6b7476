import type { EmulatorOptions } from '../../../emulators/index.ts';

/** One device of the fleet as a worker starts it. */
export interface FleetDeviceSpec {
  emulator: EmulatorOptions;
}

/** What a worker tells the fleet. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'started'; name: string }
  | { type: 'not-started'; name: string; error: string }
  | { type: 'fault'; error: string }
  | { type: 'stopped'; peakRssBytes: number };
