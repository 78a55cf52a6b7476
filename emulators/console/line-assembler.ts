/**
 * Cuts a byte stream into console lines the way a serial terminal reader does: a line ends at
 * LF, and any CRs right before the LF belong to the line ending, not to the text. A lone CR in
 * the middle stays in the text, because the ESP8266 ROM banner's CR noise must stay visible to
 * a test that looks for it.
 */
export class LineAssembler {
  private partial = '';

  /** Feeds more text; returns the lines it completed, in order. */
  push(text: string): string[] {
    const completed: string[] = [];
    let start = 0;
    let newline = text.indexOf('\n', start);
    while (newline !== -1) {
      const piece = this.partial + text.slice(start, newline);
      this.partial = '';
      completed.push(stripTrailingCarriageReturns(piece));
      start = newline + 1;
      newline = text.indexOf('\n', start);
    }
    this.partial += text.slice(start);
    return completed;
  }

  /** The text written since the last line ending (a prompt, or a line still being printed). */
  pending(): string {
    return this.partial;
  }
}

function stripTrailingCarriageReturns(piece: string): string {
  let end = piece.length;
  while (end > 0 && piece.charCodeAt(end - 1) === 0x0d) end--;
  return end === piece.length ? piece : piece.slice(0, end);
}
