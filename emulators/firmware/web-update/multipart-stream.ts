/** One step of a multipart/form-data body, in the order the bytes arrive. */
export type MultipartEvent =
  | { type: 'part'; name: string; filename: string | undefined; contentType: string | undefined }
  | { type: 'data'; bytes: Uint8Array }
  | { type: 'part-end' }
  | { type: 'done' };

export class MultipartFormatError extends Error {
  readonly code = 'MULTIPART_FORMAT';
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 8192;

type State = 'preamble' | 'after-delimiter' | 'headers' | 'body' | 'done';

/**
 * A streaming multipart/form-data reader: feed it the body as it arrives and it hands back part
 * starts, data slices and part ends, never holding more than a delimiter's length of file data,
 * so an image flows to the Updater chunk by chunk as it does on the WebServer.
 */
export class MultipartStream {
  private readonly delimiter: Buffer;
  private state: State = 'preamble';
  private pending: Buffer = Buffer.alloc(0);

  constructor(boundary: string) {
    // The first delimiter has no CRLF before it: a leading CRLF is pretended so one search fits all.
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
    this.pending = Buffer.from(CRLF);
  }

  get finished(): boolean {
    return this.state === 'done';
  }

  push(chunk: Uint8Array): MultipartEvent[] {
    const events: MultipartEvent[] = [];
    let data: Buffer =
      this.pending.length === 0
        ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)
        : Buffer.concat([this.pending, chunk]);
    this.pending = Buffer.alloc(0);
    for (;;) {
      switch (this.state) {
        case 'done':
          return events;
        case 'preamble': {
          const at = data.indexOf(this.delimiter);
          if (at < 0) {
            this.pending = Buffer.from(data.subarray(Math.max(0, data.length - this.delimiter.length + 1)));
            return events;
          }
          data = data.subarray(at + this.delimiter.length);
          this.state = 'after-delimiter';
          break;
        }
        case 'after-delimiter': {
          if (data.length < 2) {
            this.pending = Buffer.from(data);
            return events;
          }
          if (data[0] === 0x2d && data[1] === 0x2d) {
            this.state = 'done';
            events.push({ type: 'done' });
            return events;
          }
          if (data[0] !== 0x0d || data[1] !== 0x0a) {
            throw new MultipartFormatError('a multipart delimiter is followed by neither CRLF nor "--"');
          }
          data = data.subarray(2);
          this.state = 'headers';
          break;
        }
        case 'headers': {
          const end = data.indexOf(HEADER_END);
          // A part without headers starts with the blank line right away.
          const bare = data.length >= 2 && data[0] === 0x0d && data[1] === 0x0a;
          if (end < 0 && !bare) {
            if (data.length > MAX_HEADER_BYTES)
              throw new MultipartFormatError('multipart part headers too long');
            this.pending = Buffer.from(data);
            return events;
          }
          const headerText = bare ? '' : data.subarray(0, end).toString('latin1');
          data = data.subarray(bare ? 2 : end + HEADER_END.length);
          events.push(partStart(headerText));
          this.state = 'body';
          break;
        }
        case 'body': {
          const at = data.indexOf(this.delimiter);
          if (at >= 0) {
            if (at > 0) events.push({ type: 'data', bytes: data.subarray(0, at) });
            events.push({ type: 'part-end' });
            data = data.subarray(at + this.delimiter.length);
            this.state = 'after-delimiter';
            break;
          }
          const keep = partialDelimiterTail(data, this.delimiter);
          if (data.length > keep) events.push({ type: 'data', bytes: data.subarray(0, data.length - keep) });
          if (keep > 0) this.pending = Buffer.from(data.subarray(data.length - keep));
          return events;
        }
      }
    }
  }
}

/** How many bytes at the end of `data` could be the start of a delimiter split across chunks. */
function partialDelimiterTail(data: Buffer, delimiter: Buffer): number {
  const from = Math.max(0, data.length - delimiter.length + 1);
  for (let start = data.indexOf(0x0d, from); start >= 0; start = data.indexOf(0x0d, start + 1)) {
    const tail = data.subarray(start);
    if (delimiter.subarray(0, tail.length).equals(tail)) return tail.length;
  }
  return 0;
}

function partStart(headerText: string): MultipartEvent {
  let name = '';
  let filename: string | undefined;
  let contentType: string | undefined;
  for (const line of headerText.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const field = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (field === 'content-disposition') {
      name = dispositionParameter(value, 'name') ?? '';
      filename = dispositionParameter(value, 'filename');
    } else if (field === 'content-type') {
      contentType = value;
    }
  }
  return { type: 'part', name, filename, contentType };
}

function dispositionParameter(value: string, parameter: string): string | undefined {
  const match = new RegExp(`(?:^|;)\\s*${parameter}="([^"]*)"`, 'i').exec(value);
  if (match) return match[1];
  const bare = new RegExp(`(?:^|;)\\s*${parameter}=([^;\\s]*)`, 'i').exec(value);
  return bare?.[1];
}

/** The boundary parameter of a multipart/form-data Content-Type, or undefined when it has none. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^multipart\/form-data/i.test(contentType.trim())) return undefined;
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}
