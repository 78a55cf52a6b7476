export type EspLogLevel = 'E' | 'W' | 'I' | 'D';

/**
 * ESP-IDF's log line format, `I (123) tag: message`, with the timestamp taken from a
 * deterministic source so two runs of one scenario print the same console.
 */
export class EspLogger {
  constructor(
    private readonly sink: (line: string) => void,
    private readonly millisecondsSinceBoot: () => number,
    private readonly timestamps = true,
  ) {}

  log(level: EspLogLevel, tag: string, message: string): void {
    const stamp = this.timestamps ? ` (${Math.floor(this.millisecondsSinceBoot())})` : '';
    this.sink(`${level}${stamp} ${tag}: ${message}`);
  }

  /** A raw line, as the ROM prints before any logging exists. */
  raw(line: string): void {
    this.sink(line);
  }
}
