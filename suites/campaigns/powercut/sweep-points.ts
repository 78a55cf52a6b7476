import { SeededRandom } from '../../../fixtures/random/index.ts';
import type { Phase } from './cut-point.ts';
import type { PhasedOperation } from './phases.ts';

/** A phase this small is cut at every operation: the boot-selection writes are where bricks hide. */
const EVERY_OPERATION_UP_TO = 32;

/**
 * The operations a sweep cuts at, spread over the chosen phases: every operation of a short phase
 * (the otadata erase-then-write pairs of commit and first boot), the first and last of each
 * phase, and the rest one per equal stretch of the remaining operations, drawn from `seed` —
 * the same seed and reference update give the same points.
 */
export function sweepPoints(
  operations: readonly PhasedOperation[],
  phases: readonly Phase[],
  count: number,
  seed: number,
): number[] {
  const eligible = operations.filter((operation) => phases.includes(operation.phase));
  if (eligible.length <= count) return eligible.map((operation) => operation.operation);
  const chosen = new Set<number>();
  const byPhase = new Map<Phase, PhasedOperation[]>();
  for (const operation of eligible) {
    const list = byPhase.get(operation.phase) ?? [];
    list.push(operation);
    byPhase.set(operation.phase, list);
  }
  for (const list of byPhase.values()) {
    if (list.length <= EVERY_OPERATION_UP_TO) for (const operation of list) chosen.add(operation.operation);
    chosen.add(list[0]!.operation);
    chosen.add(list.at(-1)!.operation);
  }
  const rest = eligible.filter((operation) => !chosen.has(operation.operation));
  const budget = Math.max(0, count - chosen.size);
  const random = new SeededRandom(seed >>> 0);
  for (let stretch = 0; stretch < budget && rest.length > 0; stretch++) {
    const from = Math.floor((stretch * rest.length) / budget);
    const to = Math.max(from + 1, Math.floor(((stretch + 1) * rest.length) / budget));
    chosen.add(rest[random.int(from, to - 1)]!.operation);
  }
  return [...chosen].sort((a, b) => a - b);
}

/**
 * Byte counts for a transfer sweep: one per equal stretch of an image of `total` bytes, drawn from
 * `seed` (at most one per byte), in order.
 */
export function byteSweepPoints(total: number, count: number, seed: number): number[] {
  const points = new Set<number>();
  const stretches = Math.min(count, total);
  const random = new SeededRandom(seed >>> 0);
  for (let stretch = 0; stretch < stretches; stretch++) {
    const from = 1 + Math.floor((stretch * total) / stretches);
    const to = Math.max(from, Math.floor(((stretch + 1) * total) / stretches));
    points.add(random.int(from, to));
  }
  return [...points].sort((a, b) => a - b);
}
