import type { ConformanceResult } from '../../reports/conformance-result.ts';

/**
 * The kill matrix's progress while it runs (it takes minutes): every few seconds the time so far,
 * the results in, how many of its targets have reported, and how many defects are caught already.
 */
export class KillMatrixProgress {
  private results = 0;
  private readonly reporting = new Set<string>();
  private readonly killed = new Set<string>();
  private readonly startedAt = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly totalTargets: number,
    private readonly write: (text: string) => void,
    everyMs = 5000,
    private readonly isDefectTarget: (target: string) => boolean = () => false,
  ) {
    this.timer = setInterval(() => this.write(`${this.line()}\n`), everyMs);
    this.timer.unref();
  }

  onResult(result: ConformanceResult): void {
    this.results++;
    this.reporting.add(result.target);
    if (result.outcome === 'fail' && this.isDefectTarget(result.target)) this.killed.add(result.target);
  }

  line(): string {
    const seconds = ((performance.now() - this.startedAt) / 1000).toFixed(0);
    return `kill matrix: ${seconds} s, ${this.results} results, ${this.reporting.size}/${this.totalTargets} targets reporting, ${this.killed.size} defect targets caught so far`;
  }

  /** Stops the ticks and says how long it took. */
  finish(): void {
    clearInterval(this.timer);
    const seconds = ((performance.now() - this.startedAt) / 1000).toFixed(1);
    this.write(
      `kill matrix: done in ${seconds} s, ${this.results} results from ${this.reporting.size}/${this.totalTargets} targets\n`,
    );
  }
}
