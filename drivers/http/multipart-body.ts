import { randomBytes } from 'node:crypto';

export interface MultipartFileOptions {
  field: string;
  filename: string;
  /** Send only this many image bytes and no closing boundary (a cut upload). */
  truncateAt?: number;
  /** Image bytes per piece handed to the socket (progress granularity, and how often the idle deadline restarts). */
  pieceSize?: number;
  onProgress?: (sent: number, total: number) => void;
}

export interface MultipartFileBody {
  contentType: string;
  /** Bytes the complete body has (what Content-Length declares). */
  declaredLength: number;
  /** Bytes the pieces actually hold (smaller when truncated). */
  streamedLength: number;
  /** The preamble, views of the image, the closing boundary: taken one by one as the socket accepts them. */
  pieces: Iterable<Buffer>;
}

/**
 * Image bytes per piece: what the socket is handed at a time, and how often the upload's idle
 * deadline restarts. 64 KiB is Node's read size and a loopback segment; a board taking 40 KB/s
 * still takes a piece in under 2 s, well inside a step deadline. (16, 64 KiB and the whole image
 * as one piece measured the same against the emulator: the pieces are views, never copies.)
 */
const PIECE_BYTES = 64 * 1024;

/**
 * A multipart/form-data body with one file part, streamed: the preamble, then views of the
 * caller's image (no copy), then the closing boundary. The ESP WebServer reads the boundary
 * from the Content-Type header as the text after `=`, so it is sent unquoted.
 */
export function multipartFileBody(image: Uint8Array, options: MultipartFileOptions): MultipartFileBody {
  const boundary = `----ota-conformance-${randomBytes(12).toString('hex')}`;
  const filename = options.filename.replace(/["\r\n]/g, '_');
  const preamble = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${options.field}"; filename="${filename}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
    'latin1',
  );
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  const truncated = options.truncateAt !== undefined;
  const imageBytes = Math.min(image.length, Math.max(0, options.truncateAt ?? image.length));
  const pieceSize = options.pieceSize ?? PIECE_BYTES;
  const onProgress = options.onProgress;
  const view = Buffer.from(image.buffer, image.byteOffset, imageBytes);

  function* pieces(): Generator<Buffer> {
    yield preamble;
    for (let offset = 0; offset < imageBytes; offset += pieceSize) {
      const end = Math.min(offset + pieceSize, imageBytes);
      yield view.subarray(offset, end);
      onProgress?.(end, image.length);
    }
    if (!truncated) yield epilogue;
  }

  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    declaredLength: preamble.length + image.length + epilogue.length,
    streamedLength: preamble.length + imageBytes + (truncated ? 0 : epilogue.length),
    pieces: { [Symbol.iterator]: pieces },
  };
}
