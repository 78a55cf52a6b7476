/**
 * How much of a target's answer the harness keeps in memory. A device's own routes answer with a
 * status object or a short page, so anything past these sizes is a broken or hostile target, and
 * reading on would only move the failure into the harness (a 2 GB body once took a run to 4.4 GB).
 */

/** A response head: undici's and Node's default `maxHeaderSize` (16 KiB). */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

/** The body of an answer on a device's own routes (status JSON, the upload form, an error page). */
export const MAX_DEVICE_RESPONSE_BYTES = 1024 * 1024;

/**
 * A firmware image a harness-side device downloads: the largest flash chip either ROM supports is
 * 16 MiB, so no image can be larger.
 */
export const MAX_IMAGE_RESPONSE_BYTES = 16 * 1024 * 1024;

/** The words every capped reader uses, so a report reads the same whichever client stopped. */
export function overLimit(what: string, received: number, limit: number): string {
  return `sent ${what} of ${received > limit ? `more than ${limit}` : received} bytes, over the harness's limit of ${limit} bytes; stopped reading`;
}

/** A short, printable view of bytes a target sent that were not what the protocol expects. */
export function describeBytes(bytes: Uint8Array, max = 64): string {
  const shown = Buffer.from(bytes.subarray(0, max)).toString('latin1');
  return `${JSON.stringify(shown)}${bytes.length > max ? ` (first ${max} of ${bytes.length} bytes)` : ''}`;
}
