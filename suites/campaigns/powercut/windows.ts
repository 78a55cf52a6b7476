import type { OutcomeWindow } from './campaign-result.ts';
import type { CutResult } from './cut-point.ts';

/**
 * The position of a cut on the campaign's axis: its flash operation, else the console line it
 * waited for, else its bytes on the wire.
 */
export function cutPosition(cut: CutResult): number {
  return (
    cut.point.operation ?? cut.point.lineOccurrence ?? cut.point.wireBytes ?? cut.point.requestedBytes ?? 0
  );
}

/** Consecutive cuts (in position order) with the same outcome, merged into windows. */
export function outcomeWindows(cuts: readonly CutResult[]): OutcomeWindow[] {
  const sorted = [...cuts].sort((a, b) => cutPosition(a) - cutPosition(b));
  const windows: OutcomeWindow[] = [];
  for (const cut of sorted) {
    const position = cutPosition(cut);
    const last = windows.at(-1);
    if (last && last.outcome === cut.outcome) {
      last.to = position;
      last.cuts++;
      if (!last.phases.includes(cut.point.phase)) last.phases.push(cut.point.phase);
      widen(last, cut.point.address);
      continue;
    }
    const window: OutcomeWindow = {
      outcome: cut.outcome,
      from: position,
      to: position,
      phases: [cut.point.phase],
      cuts: 1,
    };
    widen(window, cut.point.address);
    windows.push(window);
  }
  return windows;
}

function widen(window: OutcomeWindow, address: number | undefined): void {
  if (address === undefined) return;
  const [low, high] = window.addresses ?? [address, address];
  window.addresses = [Math.min(low, address), Math.max(high, address)];
}
