import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MultipartFormatError, MultipartStream, multipartBoundary } from './multipart-stream.ts';

const BOUNDARY = '----WebKitFormBoundaryQ1w2E3r4';

function body(parts: Array<{ name: string; filename?: string; data: Uint8Array }>): Buffer {
  const pieces: Buffer[] = [];
  for (const part of parts) {
    const filename = part.filename === undefined ? '' : `; filename="${part.filename}"`;
    pieces.push(
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"${filename}\r\n\r\n`),
      Buffer.from(part.data),
      Buffer.from('\r\n'),
    );
  }
  pieces.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(pieces);
}

function parseInChunks(bytes: Buffer, cuts: number[]) {
  const stream = new MultipartStream(BOUNDARY);
  const parts: Array<{ name: string; filename: string | undefined; data: Buffer }> = [];
  let current: { name: string; filename: string | undefined; chunks: Buffer[] } | undefined;
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, bytes.length]) {
    for (const event of stream.push(bytes.subarray(from, to))) {
      if (event.type === 'part') current = { name: event.name, filename: event.filename, chunks: [] };
      else if (event.type === 'data') current?.chunks.push(Buffer.from(event.bytes));
      else if (event.type === 'part-end' && current) {
        parts.push({ name: current.name, filename: current.filename, data: Buffer.concat(current.chunks) });
        current = undefined;
      }
    }
    from = to;
  }
  return { parts, finished: stream.finished };
}

describe('MultipartStream', () => {
  it('returns the same parts however the body is split, even with delimiter look-alikes in the file', () => {
    const tricky = Buffer.from(`\r\n--${BOUNDARY.slice(0, 10)}\r\r\n-\r\n--${BOUNDARY.slice(0, -1)}x`);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (random, cuts) => {
          const file = Buffer.concat([tricky, Buffer.from(random), tricky]);
          const bytes = body([
            { name: 'note', data: Buffer.from('hello') },
            { name: 'firmware', filename: 'a.bin', data: file },
          ]);
          const { parts, finished } = parseInChunks(bytes, cuts);
          expect(finished).toBe(true);
          expect(parts.map((p) => [p.name, p.filename])).toEqual([
            ['note', undefined],
            ['firmware', 'a.bin'],
          ]);
          expect(parts[1]!.data.equals(file)).toBe(true);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('is not finished when the closing delimiter never arrives', () => {
    const bytes = body([{ name: 'firmware', filename: 'a.bin', data: new Uint8Array(100) }]);
    expect(parseInChunks(bytes.subarray(0, bytes.length - 10), []).finished).toBe(false);
    expect(parseInChunks(bytes, []).finished).toBe(true);
  });

  it('refuses a delimiter followed by garbage', () => {
    const stream = new MultipartStream(BOUNDARY);
    expect(() => stream.push(Buffer.from(`--${BOUNDARY}XY`))).toThrow(MultipartFormatError);
  });

  it('reads the boundary from Content-Type, quoted or not, and only for multipart/form-data', () => {
    expect(multipartBoundary(`multipart/form-data; boundary=${BOUNDARY}`)).toBe(BOUNDARY);
    expect(multipartBoundary('multipart/form-data; boundary="a b"')).toBe('a b');
    expect(multipartBoundary('application/octet-stream')).toBeUndefined();
    expect(multipartBoundary(undefined)).toBeUndefined();
  });
});
