import { constants, inflateRawSync } from 'node:zlib';

const FTEXT_RESERVED_MASK = 0xe0;
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

/**
 * uzlib_gzip_parse_header() as eboot runs it: ID1 ID2, method 8, no reserved flag bits, then the
 * optional fields skipped. Returns the offset of the deflate data, or undefined when uzlib
 * would report an error (eboot then returns 5).
 */
export function gzipDeflateOffset(bytes: Uint8Array): number | undefined {
  if (bytes.length < 10 || bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 8) return undefined;
  const flags = bytes[3]!;
  if (flags & FTEXT_RESERVED_MASK) return undefined;
  let position = 10;
  if (flags & FEXTRA) {
    if (position + 2 > bytes.length) return undefined;
    position += 2 + (bytes[position]! | (bytes[position + 1]! << 8));
  }
  for (const field of [FNAME, FCOMMENT]) {
    if (!(flags & field)) continue;
    while (position < bytes.length && bytes[position] !== 0) position++;
    position++;
  }
  if (flags & FHCRC) position += 2;
  return position <= bytes.length ? position : undefined;
}

/**
 * Inflates a raw deflate stream the way uzlib_uncompress does for eboot: no CRC-32 or ISIZE check,
 * trailing bytes ignored. On damaged data it returns what decoded before the damage, because
 * eboot has already written those sectors when uzlib reports the error.
 */
export function inflateLikeUzlib(deflate: Uint8Array): { output: Uint8Array; damaged: boolean } {
  const inflate = (input: Uint8Array) =>
    new Uint8Array(inflateRawSync(input, { finishFlush: constants.Z_SYNC_FLUSH }));
  try {
    return { output: inflate(deflate), damaged: false };
  } catch {
    // The longest prefix that still decodes approximates how far uzlib got.
    let good = 0;
    let bad = deflate.length;
    let best = new Uint8Array(0);
    while (bad - good > 1) {
      const middle = (good + bad) >>> 1;
      try {
        best = inflate(deflate.subarray(0, middle));
        good = middle;
      } catch {
        bad = middle;
      }
    }
    return { output: best, damaged: true };
  }
}
