import { percentiles } from '../report.ts';

/** What a bench row reports of its runs: median, p5, p95 and the coefficient of variation. */
export interface Spread {
  runs: number;
  median: number;
  p5: number;
  p95: number;
  /** Standard deviation over the mean (0.05 = 5 %); 0 for a single run. */
  cv: number;
}

export function spreadOf(values: readonly number[]): Spread {
  const { median, p5, p95 } = percentiles(values);
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const variance =
    values.length < 2 ? 0 : values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1);
  return { runs: values.length, median, p5, p95, cv: mean === 0 ? 0 : Math.sqrt(variance) / mean };
}
