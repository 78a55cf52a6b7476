import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import {
  type RawHttpResult,
  type TranscriptEvent,
  type ViperDialect,
  ViperHttpClient,
  type ViperStatus,
} from '../../drivers/http/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import { closeWithRequirement, cycleOffMs, RigFailure } from '../framework/index.ts';
import { ImageUnavailableError, rigBootableImage, rigImages } from '../framework/strategy/rig-images.ts';

/**
 * The "strategy" side of the viperhttp suites (STYLE.md, labgrid): how a requirement reaches a
 * known state on a ViperHTTP device and how it sees what the device runs, through the device's
 * own routes, its console and the rig's power or reset line only.
 */

export const REFERENCE = 'docs/protocols/viperhttp-luartos-mqtt.md';

/** The E2E client's chunk: headers plus body stay under the 4096-byte receive buffer (§1.8). */
export const CHUNK_SIZE = 3840;

/** Small images keep every requirement fast; 64 KiB still spans several 4 KiB erase blocks. */
export const IMAGE_SIZE = 64 * 1024;

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A valid ESP32 app image whose app descriptor carries `version` (what the boot log prints):
 * synthetic on an emulator; on a board with the vendor's builds, the rig's image or one derived
 * from it (rigBootableImage), whatever `size` says, unless `neverBooted` (then its first `size` bytes). `fitsIn` is a hard limit the requirement
 * cannot do without (one 4096-byte request): a rig image larger than that is unavailable.
 */
export function appImage(
  target: Target,
  version: string,
  seed: number,
  size = IMAGE_SIZE,
  options: { fitsIn?: number; neverBooted?: boolean } = {},
): Uint8Array {
  const synthetic = () => buildEsp32Image({ version, size, projectName: 'ota-conformance', seed });
  // Written but never set to boot: any valid image will do, on a board without rig builds too.
  if (options.neverBooted && rigImages(target) === undefined) return synthetic();
  const fromRig = rigBootableImage(target, version);
  if (fromRig === undefined) return synthetic();
  // Written but never set to boot: the first `size` bytes of the rig's image keep the chunk count
  // the requirement is about, and nothing the board could boot is involved.
  if (options.neverBooted) return fromRig.subarray(0, Math.min(size, fromRig.length));
  if (options.fitsIn !== undefined && fromRig.length > options.fitsIn)
    throw new ImageUnavailableError(
      `target ${target.name}: this requirement needs a whole image in ${options.fitsIn} bytes; the rig's builds are ${fromRig.length} bytes`,
    );
  return fromRig;
}

/** One line per exchange in the requirement's wire transcript. */
function transcriptLine(target: Target, event: TranscriptEvent): void {
  const outcome = event.status === undefined ? `no answer (${event.error ?? 'closed'})` : `${event.status}`;
  target.transcript.record(event.step, 'send', `${event.method} ${event.path} (${event.bytes.sent} B)`);
  target.transcript.record(event.step, 'receive', `${outcome} (${event.bytes.received} B)`);
}

/** A push client bound to the target, its token and its step timeout; closed by `usingClient`. */
export function openClient(
  target: Target,
  options: { dialect?: ViperDialect; tokenVia?: 'header' | 'query'; token?: string } = {},
): ViperHttpClient {
  const url = target.description.url;
  if (url === undefined)
    throw new RigFailure(`target ${target.name}: the rig gives no "url" for its HTTP routes`);
  const token = options.token ?? target.description.token;
  const client = new ViperHttpClient({
    baseUrl: url,
    targetName: target.name,
    dialect: options.dialect ?? 'viperhttp',
    ...(token === undefined ? {} : { token }),
    ...(options.tokenVia === undefined ? {} : { tokenVia: options.tokenVia }),
    chunkSize: CHUNK_SIZE,
    timeouts: { stepMs: target.stepTimeoutMs },
    transcript: (event) => transcriptLine(target, event),
    redact: (text) => target.redactor.redact(text),
  });
  // Destroyed with the requirement too, should it time out before usingClient's own cleanup.
  closeWithRequirement(() => client.destroy());
  return client;
}

export async function usingClient<T>(
  target: Target,
  body: (client: ViperHttpClient) => Promise<T>,
): Promise<T> {
  const client = openClient(target);
  try {
    return await body(client);
  } finally {
    await client.destroy();
  }
}

/** The JSON body of an answer, or undefined when it is not a JSON object. */
export function jsonOf(answer: { body: Buffer }): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(answer.body.toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** `409 {"detail":"ota session is not active"}` as one line for Expected/Actual. */
export function describeAnswer(answer: RawHttpResult): string {
  const text = answer.body.toString('utf8').replace(/\s+/g, ' ').trim();
  return `${answer.status} ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}

export function detailOf(answer: RawHttpResult): string | undefined {
  const detail = jsonOf(answer)?.detail;
  return typeof detail === 'string' ? detail : undefined;
}

export function sessionOf(
  status: ViperStatus | Record<string, unknown> | undefined,
): Record<string, unknown> | null {
  const session = status?.session;
  return session !== null && typeof session === 'object' ? (session as Record<string, unknown>) : null;
}

export function writtenBytes(status: ViperStatus | Record<string, unknown> | undefined): number | undefined {
  const value = sessionOf(status)?.written_bytes;
  return typeof value === 'number' ? value : undefined;
}

export function labelOf(partition: unknown): string | undefined {
  const label = (partition as { label?: unknown } | null | undefined)?.label;
  return typeof label === 'string' ? label : undefined;
}

/**
 * A known state before a requirement: no session (abort is always 200, §1.5) and the running app
 * confirmed, so an image a previous requirement left unconfirmed cannot roll back under this one.
 * A mark-valid refusal is tolerated here: it is not what this requirement judges.
 */
export async function settle(client: ViperHttpClient, target?: Target): Promise<ViperStatus> {
  await client.abort();
  const status = await client.status('status (known state)');
  // A slot committed without a reboot would make the next reboot start another image.
  const pending = labelOf(status.boot_partition) !== labelOf(status.running_partition);
  if (pending && target && (target.capabilities.has('reset') || target.capabilities.has('power-cycle'))) {
    await restart(target);
    await waitForDevice(client, target, 'boot the committed slot (known state)');
  }
  await client.request('POST', 'mark-valid', { body: {}, step: 'mark-valid (known state)' });
  return client.status('status (known state)');
}

/** Where the console stands now: boot lines at or after this index belong to a later boot. */
export function consoleMark(target: Target): number {
  return target.console?.lines().length ?? 0;
}

/** How long a reboot may take until the device answers again. */
export function rebootTimeoutMs(target: Target): number {
  return target.description.limits?.rebootTimeoutMs ?? Math.max(10_000, target.stepTimeoutMs * 4);
}

/**
 * The version the boot log printed (`App version:`) at or after `mark`; undefined when the target
 * has no console. Waits for the line when it has not arrived yet.
 */
export async function bootedVersion(target: Target, mark: number, step: string): Promise<string | undefined> {
  const console = target.console;
  if (!console || !target.capabilities.has('console')) return undefined;
  const found = (from: number): string | undefined => {
    const lines = console.lines();
    for (let index = from; index < lines.length; index++) {
      for (const event of lines[index]?.events ?? []) if (event.kind === 'app-version') return event.version;
    }
    return undefined;
  };
  const already = found(mark);
  if (already !== undefined) return already;
  const timeoutMs = rebootTimeoutMs(target);
  return await new Promise<string>((resolve, reject) => {
    const stop = console.onLine((line) => {
      const version = line.events.find((event) => event.kind === 'app-version');
      if (version?.kind !== 'app-version') return;
      clearTimeout(timer);
      stop();
      resolve(version.version);
    });
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${step}: no "App version:" line on the console within ${timeoutMs} ms`));
    }, timeoutMs);
  });
}

/** Polls the status until the device answers again after a reboot (connections fail meanwhile). */
export async function waitForDevice(
  client: ViperHttpClient,
  target: Target,
  step: string,
  until: (status: ViperStatus) => boolean = () => true,
): Promise<ViperStatus> {
  return client.waitForStatus(until, { timeoutMs: rebootTimeoutMs(target), intervalMs: 20, step });
}

/**
 * Restarts the chip from outside: a power cycle where the rig can switch power, else its reset
 * line. An emulator has no capacitor to drain, so it stays off only briefly.
 */
export async function restart(target: Target): Promise<void> {
  const offMs = cycleOffMs(target);
  if (target.power && target.capabilities.has('power-cycle')) {
    await target.power.cycle(offMs);
    return;
  }
  const reset = target.reset;
  if (reset && target.capabilities.has('reset')) {
    if ('reset' in reset && typeof reset.reset === 'function') await reset.reset();
    else await (reset as { cycle(offMs?: number): Promise<void> }).cycle(offMs);
    return;
  }
  throw new RigFailure(`target ${target.name}: the rig can neither power-cycle nor reset it`);
}

/** What a reboot led to: the status from the new boot and, with a console, the version it printed. */
export interface Booted {
  status: ViperStatus;
  version: string | undefined;
}

/** Restarts the target and waits until it answers; the boot log's version when it has a console. */
export async function rebootAndObserve(
  target: Target,
  client: ViperHttpClient,
  step: string,
): Promise<Booted> {
  const mark = consoleMark(target);
  await restart(target);
  const status = await waitForDevice(client, target, `${step}: wait for the device`);
  const version = await bootedVersion(target, mark, step);
  return { status, version };
}

/**
 * The §1.9 flow, step by step so a requirement can look in between: begin with size and digest,
 * chunks with offsets, then finalize. Returns the finalize answer as the wire gave it.
 */
export async function pushThenFinalize(
  client: ViperHttpClient,
  image: Uint8Array,
  options: { expectedSha256?: string; finalize?: Record<string, unknown> } = {},
): Promise<RawHttpResult> {
  await client.begin({
    expectedSize: image.length,
    expectedSha256: options.expectedSha256 ?? sha256Hex(image),
    force: true,
  });
  for (let offset = 0; offset < image.length; offset += CHUNK_SIZE) {
    await client.chunk(image.subarray(offset, Math.min(offset + CHUNK_SIZE, image.length)), { offset });
  }
  return client.request('POST', 'finalize', {
    body: { set_boot: true, strict_size: true, reboot: false, ...options.finalize },
    step: 'finalize',
  });
}

/**
 * A good update that ends in the device's own reboot (finalize reboot=true drops the connection,
 * §1.5 step 7), then waits until the old next-update slot runs. Returns the new boot.
 */
export async function updateAndReboot(
  target: Target,
  client: ViperHttpClient,
  image: Uint8Array,
): Promise<{ before: ViperStatus; booted: Booted }> {
  const before = await client.status('status before the update');
  const mark = consoleMark(target);
  const result = await client.pushImage(image, { reboot: true, waitForReboot: false });
  if (result.finalize.kind === 'committed' && result.finalize.result.ok !== true)
    throw new Error(`finalize answered without ok: ${JSON.stringify(result.finalize.result)}`);
  const expected = labelOf(before.next_update_partition);
  const status = await waitForDevice(
    client,
    target,
    `wait for the reboot into ${expected ?? 'the new slot'}`,
    (status) => expected === undefined || labelOf(status.running_partition) === expected,
  );
  const version = await bootedVersion(target, mark, 'boot after the update');
  return { before, booted: { status, version } };
}

/** A raw exchange that also reports whether the device closed the connection afterwards. */
export interface ClosingExchange {
  /** Status lines of the answers, in order. */
  statuses: number[];
  /** The device closed the connection (within the step timeout after its last answer). */
  closed: boolean;
  raw: string;
}

/**
 * Writes each request on ONE connection, the next only after the previous answer is complete, and
 * reports every status and whether the device closed. Used where the reference promises a close
 * (413, the per-connection request budget), which a pooled client would hide by reconnecting.
 */
export function exchangeOnOneConnection(
  target: Target,
  requests: readonly Buffer[],
  step: string,
  options: { awaitClose: boolean },
): Promise<ClosingExchange> {
  const url = new URL(target.description.url ?? 'http://invalid');
  const port = Number(url.port === '' ? 80 : url.port);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const timeoutMs = target.stepTimeoutMs;
  return new Promise<ClosingExchange>((resolve, reject) => {
    const statuses: number[] = [];
    let buffer = Buffer.alloc(0);
    let all = Buffer.alloc(0);
    let next = 0;
    let settled = false;
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ statuses, closed, raw: target.redactor.redact(all.toString('latin1')) });
    };
    let timer = setTimeout(() => finish(false), timeoutMs);
    const sendNext = () => {
      const request = requests[next++];
      if (request === undefined) return;
      target.transcript.record(step, 'send', request.subarray(0, request.indexOf('\r\n')).toString('latin1'));
      socket.write(request);
    };
    socket.on('connect', sendNext);
    socket.on('data', (data: Buffer) => {
      all = Buffer.concat([all, data]);
      buffer = Buffer.concat([buffer, data]);
      for (;;) {
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffer.subarray(0, headEnd).toString('latin1');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < headEnd + 4 + length) return;
        const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(head)?.[1] ?? 0);
        statuses.push(status);
        target.transcript.record(step, 'receive', head.split('\r\n')[0] ?? '');
        buffer = buffer.subarray(headEnd + 4 + length);
        clearTimeout(timer);
        if (statuses.length === requests.length && !options.awaitClose) {
          finish(false);
          return;
        }
        timer = setTimeout(() => finish(false), timeoutMs);
        sendNext();
      }
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (statuses.length > 0 || socket.bytesWritten > 0) {
        finish(true);
        return;
      }
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(
        new RigFailure(
          `target ${target.name}: cannot connect to ${host}:${port}: ${error.code ?? error.message}`,
        ),
      );
    });
  });
}

/** An HTTP/1.1 request as bytes, with the token header. */
export function requestBytes(
  target: Target,
  method: string,
  path: string,
  options: { body?: Uint8Array; headers?: readonly (readonly [string, string])[]; auth?: boolean } = {},
): Buffer {
  const url = new URL(target.description.url ?? 'http://invalid');
  const lines = [`${method} ${url.pathname.replace(/\/+$/, '')}${path} HTTP/1.1`, `Host: ${url.host}`];
  if (options.auth !== false && target.description.token !== undefined)
    lines.push(`X-OTA-Token: ${target.description.token}`);
  for (const [name, value] of options.headers ?? []) lines.push(`${name}: ${value}`);
  if (options.body !== undefined) lines.push(`Content-Length: ${options.body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return options.body === undefined ? head : Buffer.concat([head, options.body]);
}
