import type { RawHttpResult, ViperHttpClient, ViperStatus } from '../../drivers/http/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { RigFailure } from '../framework/index.ts';
import {
  bootedVersion,
  consoleMark,
  describeAnswer,
  jsonOf,
  openClient,
  restart,
  waitForDevice,
} from '../viperhttp/viper-device.ts';

/**
 * How the viperhttp-doc suites drive a device in the dialect of seeds/viperhttp-ota.md: Bearer
 * token, `{"size"}` at begin, `/ota/write`, `{"sha256"}` at finalize. The seed names no status
 * route and no field names; the suites read `GET /ota/status` (the seed's `/ota/<phase>` naming)
 * and accept the usual spellings of a byte counter, so only what the seed promises is judged.
 */

/** The seed document, after the note on the ViperHTTP document it follows (its upstream). */
export const SEED =
  'docs/protocols/viperhttp-luartos-mqtt.md §0 (the ViperHTTP document the seed follows); seeds/viperhttp-ota.md';

/**
 * The seed's example client writes 4096-byte chunks, but a ViperHTTP server parses each request
 * from one 4096-byte buffer (reference §1.8), so such a chunk plus its headers is refused with 413.
 * The seed promises no chunk size; the suites use the project's own 3840.
 */
export const DOC_CHUNK_SIZE = 3840;

export { appImage, describeAnswer, jsonOf, labelOf, sha256Hex } from '../viperhttp/viper-device.ts';

export async function usingDocClient<T>(
  target: Target,
  body: (client: ViperHttpClient) => Promise<T>,
): Promise<T> {
  const client = openClient(target, { dialect: 'viperhttp-doc' });
  try {
    return await body(client);
  } finally {
    await client.destroy();
  }
}

/** The seed's session timeout for this target (the seed names one but gives no value). */
export function sessionTimeoutMs(target: Target): number {
  const timeout = target.description.limits?.sessionTimeoutMs;
  if (timeout === undefined)
    throw new RigFailure(
      `target ${target.name}: the rig gives no limits.sessionTimeoutMs (the seed names no value)`,
    );
  return timeout;
}

/** "If no write arrives within the timeout, the session is cancelled": how long past it we wait. */
export function timeoutSlackMs(target: Target): number {
  return Math.max(1000, sessionTimeoutMs(target) / 2);
}

export function isActive(status: ViperStatus): boolean {
  return status.active === true || (status.session !== null && status.session !== undefined);
}

/** Polls the status until `until` holds or the deadline passes; returns the last status and when it held. */
export async function pollStatus(
  client: ViperHttpClient,
  until: (status: ViperStatus) => boolean,
  timeoutMs: number,
  step: string,
): Promise<{ status: ViperStatus; held: boolean; atMs: number }> {
  const started = performance.now();
  let status = await client.status(step);
  while (!until(status)) {
    if (performance.now() - started > timeoutMs)
      return { status, held: false, atMs: performance.now() - started };
    await new Promise((resolve) => setTimeout(resolve, 25));
    status = await client.status(step);
  }
  return { status, held: true, atMs: performance.now() - started };
}

type Check = (ok: boolean, expected: string, actual: string) => void;

/** GET /ota/status with the Bearer token, judged: the seed's status endpoint must answer 200. */
export async function docStatus(client: ViperHttpClient, check: Check, step: string): Promise<ViperStatus> {
  const answer = await client.request('GET', 'status', { step });
  check(
    answer.status === 200,
    `200 for GET /ota/status with Authorization: Bearer <token> (${step})`,
    describeAnswer(answer),
  );
  return (jsonOf(answer) ?? {}) as ViperStatus;
}

/**
 * A known state: no session. The doc dialect has no abort, so an active session ends by a restart
 * where the rig can do one, else by the seed's own session timeout.
 */
export async function settleDoc(client: ViperHttpClient, target: Target, check: Check): Promise<ViperStatus> {
  const status = await docStatus(client, check, 'status (known state)');
  if (!isActive(status)) return status;
  if (target.capabilities.has('power-cycle') || target.capabilities.has('reset')) {
    await restart(target);
    return waitForDevice(client, target, 'restart to end a leftover session (known state)');
  }
  const waited = await pollStatus(
    client,
    (next) => !isActive(next),
    sessionTimeoutMs(target) + timeoutSlackMs(target),
    'wait for a leftover session to time out (known state)',
  );
  check(waited.held, 'a leftover session to time out (known state)', JSON.stringify(waited.status.session));
  return waited.status;
}

/** The byte counter and declared size of the status' session, under the spellings in use. */
export function progressOf(status: ViperStatus | Record<string, unknown> | undefined): {
  written: number | undefined;
  size: number | undefined;
  pct: number | undefined;
} {
  const session = status?.session as Record<string, unknown> | null | undefined;
  const pick = (...keys: string[]) => {
    for (const key of keys) if (typeof session?.[key] === 'number') return session[key] as number;
    return undefined;
  };
  return {
    written: pick('written', 'written_bytes', 'bytes_written'),
    size: pick('size', 'expected_size', 'total', 'total_bytes'),
    pct: pick('progress_pct', 'progress'),
  };
}

/** "Returns a session identifier": `session_id`, `id` or the session's `id`. */
export function sessionIdOf(answer: RawHttpResult): unknown {
  const body = jsonOf(answer);
  const session = body?.session as Record<string, unknown> | null | undefined;
  return body?.session_id ?? body?.id ?? session?.id;
}

export function writeRequest(
  client: ViperHttpClient,
  data: Uint8Array,
  step: string,
): Promise<RawHttpResult> {
  return client.request('POST', 'write', {
    body: data,
    headers: { 'content-type': 'application/octet-stream' },
    step,
  });
}

/** Begin with the size, then every chunk, each answer judged (200 expected). */
export async function beginAndWrite(client: ViperHttpClient, image: Uint8Array, check: Check): Promise<void> {
  const begin = await client.request('POST', 'begin', { body: { size: image.length }, step: 'begin' });
  check(begin.status === 200, `200 for POST /ota/begin {"size":${image.length}}`, describeAnswer(begin));
  for (let offset = 0; offset < image.length; offset += DOC_CHUNK_SIZE) {
    const end = Math.min(offset + DOC_CHUNK_SIZE, image.length);
    const answer = await writeRequest(client, image.subarray(offset, end), `write bytes ${offset}–${end}`);
    check(answer.status === 200, `200 for POST /ota/write (bytes ${offset}–${end})`, describeAnswer(answer));
  }
}

export function finalizeRequest(
  client: ViperHttpClient,
  body: Record<string, unknown>,
  step: string,
): Promise<RawHttpResult> {
  return client.request('POST', 'finalize', { body, step });
}

/** Restarts the device and returns what runs then (status and, with a console, the boot log's version). */
export async function rebootDoc(
  target: Target,
  client: ViperHttpClient,
  step: string,
): Promise<{ status: ViperStatus; version: string | undefined }> {
  const mark = consoleMark(target);
  await restart(target);
  const status = await waitForDevice(client, target, `${step}: wait for the device`);
  return { status, version: await bootedVersion(target, mark, step) };
}

/**
 * After a finalize was accepted the device boots the new slot at its next start; a requirement
 * that committed one restarts into it, so the next requirement's "what runs now" is what runs.
 */
export async function bootCommitted(target: Target, client: ViperHttpClient): Promise<void> {
  if (target.capabilities.has('power-cycle') || target.capabilities.has('reset'))
    await rebootDoc(target, client, 'boot the committed image');
}
