import fc from 'fast-check';
import { ascii, type FuzzTarget, isTypedRefusal } from '../../../fuzz/fuzz-target.ts';
import { MultipartStream } from './multipart-stream.ts';

const BOUNDARY = '----otaBoundary7MA4YWxk';
const form = (parts: { name: string; filename?: string; data: string }[]) =>
  ascii(
    `${parts
      .map(
        (part) =>
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}\r\nContent-Type: application/octet-stream\r\n\r\n${part.data}\r\n`,
      )
      .join('')}--${BOUNDARY}--\r\n`,
  );

/** The web-update emulator's multipart reader, fed in uneven pieces as TCP delivers them. */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'http/multipart (emulator)',
    seeds: [
      form([{ name: 'firmware', filename: 'a.bin', data: '\xe9\x01\x02\r\n--not-the-boundary' }]),
      form([
        { name: 'x', data: 'plain' },
        { name: 'filesystem', filename: 'fs.bin', data: '\r\n\r\n' },
      ]),
    ],
    structured: fc
      .array(
        fc.record({
          name: fc.constantFrom('firmware', 'filesystem', 'x', ''),
          filename: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
          data: fc.string({ maxLength: 80 }),
        }),
        { maxLength: 3 },
      )
      .map(form),
    run(input) {
      const stream = new MultipartStream(BOUNDARY);
      let received = 0;
      for (let at = 0, step = 1; at < input.length; at += step, step = (step * 7) % 61 || 1) {
        for (const event of stream.push(input.subarray(at, at + step)))
          if (event.type === 'data') received += event.bytes.length;
      }
      if (received > input.length) throw new RangeError(`${received} data bytes out of ${input.length} sent`);
    },
    refuses: isTypedRefusal,
  },
];
