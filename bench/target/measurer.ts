import type { Target } from '../../drivers/target/index.ts';

/**
 * The phases a target shows apart (DESIGN.md: transfer, flash write, verify, reboot to first
 * answer), and `connect`: the TCP connection's setup, the first part of the transfer, where a
 * client reports it (web-update: the harness and curl's time_connect).
 */
export type Phase = 'connect' | 'transfer' | 'write' | 'verify' | 'reboot';
export const PHASES: readonly Phase[] = ['connect', 'transfer', 'write', 'verify', 'reboot'];

/** One measured update. */
export interface RunSample {
  /** From the first request to the device's last word on the update (reboot excluded unless a phase says so). */
  seconds: number;
  bytes: number;
  phases: Partial<Record<Phase, number>>;
  /** How the device confirmed it took exactly these bytes: the digest it reported, or the version it then ran. */
  verifiedBy: string;
  /** This process's user + system CPU for the run, where the client runs in it (µs). */
  cpuMicros?: number;
  /** Requests the run took (per-request CPU for request-per-chunk protocols). */
  requests?: number;
}

/** A client that can update a target, at one chunk size per run. */
export interface BenchClient {
  /** `harness` for the project's own client; baselines name themselves. */
  name: string;
  /** Undefined: no such client here (the reason is shown instead of a row). */
  unavailable?: string;
  /** The chunk size the client actually uses for a requested size (a baseline may need less). */
  chunkFor(size: number): number;
  run(image: Uint8Array, chunkSize: number): Promise<RunSample>;
}

/** How a profile is benchmarked on one target. */
export interface Measurer {
  target: Target;
  /** Chunk sizes in bytes the protocol allows, clipped to its limit; one entry for single-stream ones. */
  sizes(requested: readonly number[] | undefined): number[];
  /** What one size means on the wire (`chunk`, `block`, `stream`). */
  sizeUnit: string;
  clients: BenchClient[];
  close(): Promise<void>;
}

export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
  readonly code = 'BENCH_USAGE';
}

/** Runs `body` and adds the CPU it cost this process. */
export async function withCpu(body: () => Promise<RunSample>): Promise<RunSample> {
  const before = process.cpuUsage();
  const sample = await body();
  const cpu = process.cpuUsage(before);
  return { ...sample, cpuMicros: cpu.user + cpu.system };
}

export function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}
