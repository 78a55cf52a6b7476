import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface MultipartFileOptions {
  field: string;
  filename: string;
  /** Send only this many image bytes and no closing boundary (a cut upload). */
  truncateAt?: number;
  /** Image bytes per piece handed to the socket (progress granularity). */
  pieceSize?: number;
  onProgress?: (sent: number, total: number) => void;
  /** Called as each piece is taken by the consumer (keeps an idle deadline alive). */
  onPiece?: () => void;
}

export interface MultipartFileBody {
  contentType: string;
  /** Bytes the complete body has (what Content-Length declares). */
  declaredLength: number;
  /** Bytes the stream actually yields (smaller when truncated). */
  streamedLength: number;
  stream: Readable;
}

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
  const pieceSize = options.pieceSize ?? 16 * 1024;
  const onProgress = options.onProgress;
  const onPiece = options.onPiece;
  const view = Buffer.from(image.buffer, image.byteOffset, imageBytes);

  function* pieces(): Generator<Buffer> {
    onPiece?.();
    yield preamble;
    for (let offset = 0; offset < imageBytes; offset += pieceSize) {
      const end = Math.min(offset + pieceSize, imageBytes);
      onPiece?.();
      yield view.subarray(offset, end);
      onProgress?.(end, image.length);
    }
    onPiece?.();
    if (!truncated) yield epilogue;
  }

  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    declaredLength: preamble.length + image.length + epilogue.length,
    streamedLength: preamble.length + imageBytes + (truncated ? 0 : epilogue.length),
    stream: Readable.from(pieces(), { objectMode: false }),
  };
}
