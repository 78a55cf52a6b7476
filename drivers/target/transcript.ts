/** One exchange on the wire, as the harness saw it (already redacted). */
export interface TranscriptEntry {
  atMs: number;
  step: string;
  direction: 'send' | 'receive' | 'event';
  text: string;
}

/**
 * The wire log of one requirement: what was sent and received, attached to its report. Every
 * entry passes through the target's redactor on the way in, so nothing written later can leak.
 */
export class Transcript {
  private entries: TranscriptEntry[] = [];
  private readonly startedAt = Date.now();

  constructor(private readonly redact: (text: string) => string) {}

  /** The step label is redacted too: drivers name a step after its request line (`GET /ota/status?token=…`). */
  record(step: string, direction: TranscriptEntry['direction'], text: string): void {
    this.entries.push({
      atMs: Date.now() - this.startedAt,
      step: this.redact(step),
      direction,
      text: this.redact(text),
    });
  }

  /** Entries since the last `take()`, then starts afresh (one transcript per requirement). */
  take(): TranscriptEntry[] {
    const taken = this.entries;
    this.entries = [];
    return taken;
  }

  static format(entries: readonly TranscriptEntry[]): string {
    const arrow = { send: '>>', receive: '<<', event: '--' } as const;
    return entries
      .map(
        (entry) =>
          `${String(entry.atMs).padStart(7)} ms ${arrow[entry.direction]} [${entry.step}] ${entry.text}`,
      )
      .join('\n');
  }
}
