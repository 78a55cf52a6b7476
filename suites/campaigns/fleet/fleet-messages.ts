import type { EmulatorOptions } from '../../../emulators/index.ts';

/** One device of the fleet as a worker starts it. */
export interface FleetDeviceSpec {
  emulator: EmulatorOptions;
  /** Report boots and the sketch's update result lines (devices without MQTT: the poll fleet). */
  observe?: boolean;
}

/** What a worker tells the fleet. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'started'; name: string }
  | { type: 'not-started'; name: string; error: string }
  | { type: 'fault'; error: string }
  | { type: 'boot'; name: string; version: string | undefined }
  | { type: 'line'; name: string; text: string }
  | { type: 'stopped'; peakRssBytes: number };
