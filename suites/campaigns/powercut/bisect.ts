import type { CutResult } from './cut-point.ts';
import { cutPosition } from './windows.ts';

/**
 * Bisects every change of outcome between neighbouring cut points down to adjacent flash
 * operations: between two cuts with different outcomes it cuts halfway and keeps the half that
 * still changes (both halves when the middle is a third outcome). Returns the extra cuts.
 */
export async function bisectBoundaries(
  cuts: readonly CutResult[],
  cutAt: (operation: number) => Promise<CutResult>,
): Promise<CutResult[]> {
  const sorted = [...cuts].sort((a, b) => cutPosition(a) - cutPosition(b));
  const pending: [CutResult, CutResult][] = [];
  for (let index = 1; index < sorted.length; index++) {
    const low = sorted[index - 1]!;
    const high = sorted[index]!;
    if (low.outcome !== high.outcome && cutPosition(high) - cutPosition(low) > 1) pending.push([low, high]);
  }
  const found: CutResult[] = [];
  while (pending.length > 0) {
    const [low, high] = pending.pop()!;
    const middle = Math.floor((cutPosition(low) + cutPosition(high)) / 2);
    const cut = await cutAt(middle);
    found.push(cut);
    if (cut.outcome !== low.outcome && middle - cutPosition(low) > 1) pending.push([low, cut]);
    if (cut.outcome !== high.outcome && cutPosition(high) - middle > 1) pending.push([cut, high]);
  }
  return found;
}
